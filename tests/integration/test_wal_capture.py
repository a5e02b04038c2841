"""``source.capture: wal`` against a real cluster with ``wal_level=logical``: every stage in-process."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from helpers import (
    ORDERS_DDL,
    execute,
    make_spec,
    new_run,
    rows,
    source_orders,
    sync,
    target_orders,
    watermark,
)

from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.connectors.postgres.cdc.names import slot_name
from syncgate.errors import DataQualityError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.integration


def wal_spec(**overrides: Any) -> FlowSpec:
    return make_spec(source__cursor=None, source__capture="wal", **overrides)


def seed(src: str, n: int) -> None:
    execute(
        src,
        ORDERS_DDL,
        f"INSERT INTO public.orders SELECT g, 'P', g * 1.5, 'note ' || g, NULL, now() FROM generate_series(1, {n}) g",
    )


def confirmed(src: str, flow_id: str) -> str:
    return str(
        rows(
            src,
            f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot_name(flow_id)}'",
        )[0][0]
    )


@pytest.fixture
def wal_flow(databases: dict[str, str]) -> Any:
    seed(databases["src"], 200)
    spec = wal_spec()
    setup_flow(spec)
    yield spec
    drop_flow(spec)


def test_inserts_updates_deletes_and_a_key_update_arrive_exactly(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    src, dst = databases["src"], databases["dst"]
    first = sync(wal_flow)
    assert first["counts"]["rows_inserted"] == 200
    assert target_orders(dst) == source_orders(src)
    execute(
        src,
        "UPDATE public.orders SET status = 'S', note = 'shipped' WHERE id % 20 = 0",  # 10 rows
        "INSERT INTO public.orders VALUES (1001, 'P', 1, 'new', NULL, now()), (1002, 'X', NULL, NULL, NULL, now())",
        "DELETE FROM public.orders WHERE id IN (3, 4, 5)",
        "UPDATE public.orders SET id = 5000 WHERE id = 7",  # a key update: delete 7, insert 5000
        "INSERT INTO public.orders VALUES (1003, 'P', 1, 'short-lived', NULL, now())",
        "DELETE FROM public.orders WHERE id = 1003",  # inserted and deleted: never reaches the target
    )
    second = sync(wal_flow)
    assert second["rows"] == 13  # only the changed keys travel: 10 updated, 2 new, 5000
    assert second["counts"] == {"rows_inserted": 3, "rows_updated": 10, "rows_deleted": 4}
    assert target_orders(dst) == source_orders(src)
    mark = watermark(dst)
    assert mark is not None and mark[0] == second["watermark_after"]
    assert confirmed(src, wal_flow.id) == second["watermark_after"]  # confirmed after promote
    third = sync(wal_flow)  # nothing new: nothing travels
    assert third["rows"] == 0 and third["counts"] == {
        "rows_inserted": 0,
        "rows_updated": 0,
        "rows_deleted": 0,
    }


def test_deletes_none_ignores_the_deletes_the_log_carries(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed(src, 10)
    spec = wal_spec(source__deletes="none")
    setup_flow(spec)
    try:
        sync(spec)
        execute(
            src, "DELETE FROM public.orders WHERE id <= 3", "UPDATE public.orders SET note = 'x' WHERE id = 9"
        )
        second = sync(spec)
        assert second["counts"] == {"rows_inserted": 0, "rows_updated": 1, "rows_deleted": 0}
        assert [r[0] for r in rows(dst, "SELECT id FROM analytics.orders ORDER BY id")] == list(range(1, 11))
    finally:
        drop_flow(spec)


def test_a_long_transaction_that_commits_late_still_arrives(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    """The cursor mode's hole: a row written early, committed after a run moved past it."""
    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    late = psycopg.connect(src)
    late.execute("INSERT INTO public.orders VALUES (9001, 'P', 1, 'late', NULL, now() - interval '1 day')")
    execute(src, "INSERT INTO public.orders VALUES (9002, 'S', 2, 'early', NULL, now())")
    between = sync(wal_flow)  # runs while the long transaction is still open
    assert between["rows"] == 1
    late.commit()
    late.close()
    after = sync(wal_flow)
    assert after["rows"] == 1 and after["counts"]["rows_inserted"] == 1
    assert target_orders(dst) == source_orders(src)


def test_a_crash_between_promote_commit_and_slot_advance_duplicates_and_loses_nothing(
    databases: dict[str, str], wal_flow: FlowSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.connectors.postgres.wal_source import PostgresWalSource

    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    before = confirmed(src, wal_flow.id)
    execute(
        src, "UPDATE public.orders SET note = 'one' WHERE id = 1", "DELETE FROM public.orders WHERE id = 2"
    )
    # The process dies right after promote's commit: the slot is never confirmed.
    with monkeypatch.context() as patched:
        patched.setattr(PostgresWalSource, "promoted", lambda self, flow, batch: None)
        crashed = sync(wal_flow)
    assert crashed["counts"] == {"rows_inserted": 0, "rows_updated": 1, "rows_deleted": 1}
    assert confirmed(src, wal_flow.id) == before  # the slot still holds the promoted changes
    execute(src, "INSERT INTO public.orders VALUES (3000, 'P', 1, 'after', NULL, now())")
    rerun = sync(wal_flow)
    # Only the new change: the promoted ones (at or below the watermark) are skipped.
    assert rerun["rows"] == 1 and rerun["counts"] == {
        "rows_inserted": 1,
        "rows_updated": 0,
        "rows_deleted": 0,
    }
    assert target_orders(dst) == source_orders(src)
    assert confirmed(src, wal_flow.id) == rerun["watermark_after"]


def test_a_run_whose_batch_the_gate_rejects_leaves_slot_and_watermark_as_they_were(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    mark, slot_at = watermark(dst), confirmed(src, wal_flow.id)
    execute(src, "UPDATE public.orders SET status = 'Z' WHERE id = 10")  # not in the status value set
    run = new_run(wal_flow)
    with pytest.raises(DataQualityError):
        verify(wal_flow, run, load(wal_flow, run, transform(wal_flow, extract(wal_flow, run))))
    assert watermark(dst) == mark and confirmed(src, wal_flow.id) == slot_at
    execute(src, "UPDATE public.orders SET status = 'S' WHERE id = 10")
    fixed = sync(wal_flow)
    assert fixed["counts"]["rows_updated"] == 1
    assert target_orders(dst) == source_orders(src)


def test_a_backlog_is_taken_in_bounded_runs(
    databases: dict[str, str], wal_flow: FlowSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.connectors.postgres.wal_source import PostgresWalSource

    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    for i in range(6):  # six transactions of 20 changes each
        execute(
            src,
            f"UPDATE public.orders SET note = 'round {i}' WHERE id BETWEEN {i * 20 + 1} AND {i * 20 + 20}",
        )
    monkeypatch.setattr(PostgresWalSource, "max_changes", 30)
    runs = []
    while True:
        result = sync(wal_flow)
        runs.append(result["rows"])
        if result["rows"] == 0:
            break
    assert len(runs) > 2 and sum(runs) == 120  # several runs, none of them the whole backlog
    assert target_orders(dst) == source_orders(src)


def test_truncate_with_hard_deletes_empties_what_the_source_emptied(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    execute(
        src, "TRUNCATE public.orders", "INSERT INTO public.orders VALUES (1, 'S', 1, 'again', NULL, now())"
    )
    sync(wal_flow)
    assert target_orders(dst) == source_orders(src)


def test_a_missing_slot_fails_the_run_and_says_how_to_set_it_up(databases: dict[str, str]) -> None:
    seed(databases["src"], 3)
    spec = wal_spec()
    with pytest.raises(Exception, match="cdc setup orders_flow"):
        sync(spec)


def test_a_replica_identity_that_misses_the_key_is_refused_with_the_fix(databases: dict[str, str]) -> None:
    src = databases["src"]
    execute(src, "CREATE TABLE public.orders (id bigint NOT NULL, status char(1), amount numeric, note text, "
                 '"order" text, updated_at timestamptz)')  # fmt: skip
    with pytest.raises(Exception, match="REPLICA IDENTITY FULL"):
        setup_flow(wal_spec())


def test_concurrent_pending_checks_do_not_fail_a_run(databases: dict[str, str], wal_flow: FlowSpec) -> None:
    from syncgate.connectors.postgres.cdc.names import publication_name
    from syncgate.connectors.postgres.cdc.pending import pending_lsn

    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    stop = threading.Event()

    def poll() -> None:
        with psycopg.connect(src, autocommit=True) as conn:
            while not stop.is_set():
                pending_lsn(conn, slot_name(wal_flow.id), publication_name(wal_flow.id), None)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for i in range(3):
            execute(src, f"UPDATE public.orders SET note = 'poll {i}' WHERE id = {i + 1}")
            sync(wal_flow)
    finally:
        stop.set()
        poller.join()
    assert target_orders(dst) == source_orders(src)


PARTITIONED_DDL = """
CREATE TABLE public.orders (
    id bigint NOT NULL, status char(1) NOT NULL, amount numeric(12,2), note text, "order" text,
    updated_at timestamptz NOT NULL, PRIMARY KEY (id)
) PARTITION BY RANGE (id);
CREATE TABLE public.orders_low PARTITION OF public.orders FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE public.orders_high PARTITION OF public.orders FOR VALUES FROM (1000) TO (MAXVALUE);
"""


def test_a_partitioned_tables_changes_arrive_under_its_own_name(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        PARTITIONED_DDL,
        "INSERT INTO public.orders SELECT g, 'P', g, NULL, NULL, now() FROM generate_series(1, 5) g",
    )
    spec = wal_spec()
    setup_flow(spec)
    try:
        sync(spec)
        execute(
            src,
            "INSERT INTO public.orders VALUES (1500, 'P', 1, 'high', NULL, now())",
            "UPDATE public.orders SET note = 'low' WHERE id = 2",
            "DELETE FROM public.orders WHERE id = 3",
            "UPDATE public.orders SET id = 2000 WHERE id = 4",  # moves across partitions
        )
        second = sync(spec)
        assert second["counts"]["rows_deleted"] == 2
        assert target_orders(dst) == source_orders(src)
    finally:
        drop_flow(spec)


def test_a_table_with_inheritance_children_is_refused_at_setup(databases: dict[str, str]) -> None:
    src = databases["src"]
    execute(src, ORDERS_DDL, "CREATE TABLE public.orders_archive () INHERITS (public.orders)")
    with pytest.raises(Exception, match="inheritance child"):
        setup_flow(wal_spec())


def test_a_slot_recreated_behind_the_flows_back_is_a_gap_the_run_refuses(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    src, dst = databases["src"], databases["dst"]
    sync(wal_flow)
    mark = watermark(dst, wal_flow.id)
    drop_flow(wal_flow)
    execute(src, "DELETE FROM public.orders WHERE id = 2")  # no slot holds this change
    setup_flow(wal_flow)
    execute(src, "UPDATE public.orders SET note = 'later' WHERE id = 1")
    with pytest.raises(Exception, match="re-created or advanced outside syncgate"):
        sync(wal_flow)
    assert watermark(dst, wal_flow.id) == mark
