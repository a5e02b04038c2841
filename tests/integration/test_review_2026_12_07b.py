"""Review of the HTTP push fence, WAL deletes to an API and the skipped superseded promote
(2026-12-07, second reviewer). Each test shows a finding on the reviewed code; real PostgreSQL,
real loopback CRM."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest
from crm_push import crm_customers, make_http_spec, seed_customers, source_customers
from helpers import (
    audit,
    execute,
    make_spec,
    new_run,
    rows,
    seed_orders,
    source_orders,
    sync,
    target_orders,
    watermark,
)
from push_fence_kit import (
    CHUNK,
    CUSTOMERS,
    names,
    push_dies_midway,
    staged,
    synced_with_two_batches,
)

from syncgate.connectors.http.push import pusher
from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.errors import FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.state.migrations import migrate
from syncgate.state.schema import STEPS

pytestmark = pytest.mark.integration


@pytest.fixture
def overtaken(databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The newer batch's push dies midway; the older batch's promote completes it, then ends superseded."""
    src = databases["src"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(src, monkeypatch)
    push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    promote(spec, older_run, older)
    assert names(crm_empty) == {"Newer"}
    return {"spec": spec, "older": (older_run, older), "newer": (newer_run, newer)}


@pytest.mark.parametrize("attempt", ["task-retry", "cleared-after-failure"])
def test_a_retry_after_another_run_completed_the_push_settles_the_run(
    databases: dict[str, str], crm_empty: Any, overtaken: dict[str, Any], attempt: str
) -> None:
    """The newer run's push died midway and the older run's promote completed it. The newer run's
    promote then runs again: as its task's retry (audit row still 'running'), or cleared by hand
    after the run failed (the failure callback marked the row 'failed'; the code re-raises that
    stale error although the batch is on the API)."""
    dst = databases["dst"]
    spec = overtaken["spec"]
    newer_run, newer = overtaken["newer"]
    if attempt == "cleared-after-failure":  # what the DAG's on_failure_callback records
        execute(
            dst,
            "UPDATE syncgate.sync_runs SET status = 'failed', finished_at = now(), "
            "error = 'promote: the API gave up after 4 attempts' "
            f"WHERE run_id = '{newer_run.run_id}' AND status = 'running'",
        )
    before = watermark(dst, spec.id)
    promote(spec, newer_run, newer)
    row = audit(dst, newer_run.run_id, spec.id)
    assert row["status"] == "success", (row["status"], row["error"])
    assert watermark(dst, spec.id) != before, "the pushed batch's watermark never moved"
    assert rows(dst, "SELECT promoted FROM syncgate.batch_fences WHERE flow_id = %s", (spec.id,)) == [
        (newer.sequence,)
    ]


def test_a_retry_after_a_newer_run_completed_the_push_and_promoted_ends_superseded(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The older run's push died midway; the newer run completed it, then pushed and promoted its
    own batch. The older run's retry must not move the watermark back to its batch."""
    src, dst = databases["src"], databases["dst"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(src, monkeypatch)
    push_dies_midway(spec, older_run, older, crm_empty, monkeypatch)
    # Its worker was killed: nothing recorded what the API had confirmed (5 changes).
    execute(
        dst,
        f"UPDATE syncgate.sync_runs SET rows_updated = NULL, rows_pushed = NULL WHERE run_id = '{older_run.run_id}'",
    )
    promote(spec, newer_run, newer)
    newest = watermark(dst, spec.id)
    promote(spec, older_run, older)  # the older run's task retry
    row = audit(dst, older_run.run_id, spec.id)
    assert row["status"] == "superseded", (row["status"], row["error"])
    assert watermark(dst, spec.id) == newest
    assert rows(dst, "SELECT promoted FROM syncgate.batch_fences WHERE flow_id = %s", (spec.id,)) == [
        (newer.sequence,)
    ]
    assert names(crm_empty) == {"Newer"}
    # Each batch's 12 updates are counted once: the older run's own, the rest by the newer run.
    counted = rows(
        dst,
        "SELECT sum(rows_updated), sum(rows_pushed) FROM syncgate.sync_runs WHERE run_id IN (%s, %s)",
        (older_run.run_id, newer_run.run_id),
    )
    assert counted == [(2 * CUSTOMERS, 2 * CUSTOMERS)]


def test_a_change_refused_while_another_run_completed_the_push_fails_the_settled_run(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API refused one of the newer batch's changes that the older run's promote sent for it:
    with rejects.fail_run the newer run's retry fails and leaves the watermark, so the next run
    offers the refused record again."""
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, CUSTOMERS)
    spec = make_http_spec()
    sync(spec)
    monkeypatch.setattr(pusher, "SINGLE_CHUNK", CHUNK)
    stamp = "updated_at = now() + id * interval '1 millisecond'"
    execute(src, f"UPDATE public.customers SET name = 'Older', {stamp}")
    older_run, older = staged(spec)
    last = CUSTOMERS  # planned in the last chunk, which the older run's promote sends
    execute(src, f"UPDATE public.customers SET name = 'Newer', {stamp}")
    execute(src, f"UPDATE public.customers SET email = 'no-at-sign' WHERE id = {last}")
    newer_run, newer = staged(spec)
    push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    promote(spec, older_run, older)
    assert rows(dst, "SELECT run_id FROM syncgate.rejected_records WHERE stage = 'push'") == [
        (newer_run.run_id,)
    ]
    before = watermark(dst, spec.id)
    with pytest.raises(FatalError, match="refused 1 change"):
        promote(spec, newer_run, newer)
    row = audit(dst, newer_run.run_id, spec.id)
    assert row["status"] == "failed" and "rejected_records" in row["error"]
    assert watermark(dst, spec.id) == before


def test_the_changes_a_superseded_promote_completed_are_counted(
    databases: dict[str, str], crm_empty: Any, overtaken: dict[str, Any]
) -> None:
    dst = databases["dst"]
    spec = overtaken["spec"]
    newer_run, newer = overtaken["newer"]
    older_run, _ = overtaken["older"]
    promote(spec, newer_run, newer)  # the newer run's task retry
    counted = rows(
        dst,
        "SELECT coalesce(sum(rows_updated), 0), coalesce(sum(rows_pushed), 0) FROM syncgate.sync_runs "
        "WHERE run_id IN (%s, %s)",
        (older_run.run_id, newer_run.run_id),
    )
    # The API applied the newer batch's 12 updates (5 + 1 by its first attempt, 6 completed by the
    # older run's promote): the audit trail accounts for each.
    assert counted == [(CUSTOMERS, CUSTOMERS)]


def test_an_abandoned_push_planned_before_the_upgrade_still_fences_older_batches(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(src, monkeypatch)
    push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    # The newer plan was made by the code before migration 7 (its row has no number); then the
    # state database is upgraded.
    execute(
        dst,
        f"UPDATE syncgate.push_batches SET sequence = NULL WHERE batch_id = '{newer.batch_id}'",
        "DELETE FROM syncgate.schema_version WHERE version = 7",
    )
    with psycopg.connect(dst) as conn:
        assert migrate(conn, STEPS) == [7]
    promote(spec, older_run, older)
    assert names(crm_empty) == {"Newer"}, "the older batch's values reached the API after the newer ones"


@pytest.fixture
def wal_push(databases: dict[str, str]) -> Any:
    seed_customers(databases["src"], 30)
    spec = make_http_spec(
        source__cursor=None, source__capture="wal", source__deletes="hard", source__soft_delete_column=None
    )
    setup_flow(spec)
    yield spec
    drop_flow(spec)


def reinsert_all_but(ids: str) -> str:
    return (
        "INSERT INTO public.customers SELECT g, 'Customer ' || g, NULL, 'lead', NULL, 1, "
        """'{"city": "Lyon", "country": "FR"}', '{}', now(), NULL FROM generate_series(1, 30) g """
        f"WHERE g NOT IN ({ids})"
    )


def test_a_truncate_and_a_delete_in_one_wal_batch_delete_each_record_once(
    databases: dict[str, str], crm_empty: Any, wal_push: Any
) -> None:
    """A WAL batch with a TRUNCATE carries the log's deleted keys and the key set: a key in both was
    planned twice (two DELETEs under one idempotency key, rows_deleted counted twice)."""
    src = databases["src"]
    sync(wal_push)
    execute(
        src,
        "TRUNCATE public.customers",
        reinsert_all_but("4"),  # 4 is gone with the TRUNCATE only
        "DELETE FROM public.customers WHERE id = 3",  # 3 is re-inserted, then deleted again
    )
    writes_before = len(crm_empty.admin.writes())
    second = sync(wal_push)
    assert crm_customers(crm_empty).keys() == source_customers(src).keys()
    deletes = Counter(w["id"] for w in crm_empty.admin.writes()[writes_before:] if w["op"] == "delete")
    assert deletes == Counter({3: 1, 4: 1})
    assert second["counts"]["rows_deleted"] == 2


def test_a_promote_that_changed_the_api_is_not_settled_as_writing_nothing(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from airflow.sdk import Asset
    from airflow.sdk.exceptions import AirflowSkipException

    from syncgate.dag_factory import _skip_if_superseded

    src = databases["src"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(src, monkeypatch)
    push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    applied = crm_empty.admin.stats()["writes_applied"]
    promote(spec, older_run, older)
    assert crm_empty.admin.stats()["writes_applied"] > applied  # this promote changed the API
    # What the DAG's promote task does next: skipped, it records no asset event for the API.
    context = {"dag_run": SimpleNamespace(run_id=older_run.run_id)}
    try:
        _skip_if_superseded(spec, context, Asset(name="crm", uri="syncgate://crm_api/v1/customers"))
    except AirflowSkipException:
        pytest.fail("the promote changed the API, yet its task is skipped and announces nothing")


def test_a_scheduled_batch_read_before_a_backfill_does_not_delete_what_the_backfill_created(
    databases: dict[str, str], crm_empty: Any
) -> None:
    from datetime import UTC, datetime

    src = databases["src"]
    seed_customers(src, 20)
    spec = make_http_spec(source__deletes="hard", source__soft_delete_column=None)
    sync(spec)
    scheduled = staged(spec)  # read first: its key set is the source's before the late record
    # A record arrives late, stamped inside a past interval, and that interval is backfilled.
    execute(
        src,
        "INSERT INTO public.customers VALUES (99, 'Late', NULL, 'lead', NULL, 1, "
        """'{"city": "Lyon", "country": "FR"}', '{}', '2026-01-01 00:05:30+00', NULL)""",
    )
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    backfill = new_run(
        spec, run_id="backfill__late", run_type="backfill", interval_start=start, interval_end=end
    )
    promote(
        spec, backfill, verify(spec, backfill, load(spec, backfill, transform(spec, extract(spec, backfill))))
    )
    assert 99 in crm_customers(crm_empty)
    promote(spec, *scheduled)  # the scheduled run's promote comes after the backfill's
    sync(spec)  # and the next run
    assert crm_customers(crm_empty) == source_customers(src), "the late record was deleted from the API"


def test_the_same_late_row_survives_in_a_postgres_target(databases: dict[str, str]) -> None:
    from datetime import UTC, datetime

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 40)
    spec = make_spec()
    sync(spec)
    scheduled = staged(spec)
    execute(src, "INSERT INTO public.orders VALUES (99, 'P', 1, 'late', 'o99', '2026-01-01 00:01:30+00')")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    backfill = new_run(
        spec, run_id="backfill__late", run_type="backfill", interval_start=start, interval_end=end
    )
    sync(spec, backfill)
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE id = 99") == [(1,)]
    promote(spec, *scheduled)
    sync(spec)
    assert target_orders(dst) == source_orders(src), "the late row was deleted from the target"
