"""The gate's verdict store: a verdict pins the staged tables it checked; any change is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from helpers import execute, rows

from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError, RetriableError
from syncgate.quality import verdicts
from syncgate.state import audit
from syncgate.state.schema import ensure_state_schema

pytestmark = pytest.mark.integration

FLOW, RUN, BATCH = "gate_flow", "manual__1", "batch-1"
STAGED = TableRef("syncgate_staging", "gate_flow__abc")
KEYS = TableRef("syncgate_staging", "gate_flow__abc__keys")
ROWS = "SELECT g, 'name ' || g, g * 1.5 FROM generate_series(1, 500) g"


@pytest.fixture
def dst(databases: dict[str, str]) -> Iterator[str]:
    """The state database with a staged batch of 500 rows and its key set."""
    url = databases["dst"]
    with psycopg.connect(url) as conn:
        ensure_state_schema(conn)
    execute(
        url,
        f"CREATE UNLOGGED TABLE {STAGED} (id bigint, name text, amount numeric(12,2))",
        f"INSERT INTO {STAGED} {ROWS}",
        f"CREATE UNLOGGED TABLE {KEYS} (id bigint)",
        f"INSERT INTO {KEYS} SELECT g FROM generate_series(1, 600) g",
    )
    yield url


def seal_and_record(url: str, *, passed: bool = True, reason: str | None = None, batch: str = BATCH) -> Any:
    with verdicts.sealed("dst_db", [STAGED, KEYS]) as seal:
        pass  # GX would read the tables here; without its row count check the seal counts them
    with psycopg.connect(url) as conn:
        verdicts.record(conn, FLOW, RUN, batch, seal, passed=passed, reason=reason)
    return seal


def check(url: str, batch: str = BATCH, tables: list[TableRef] | None = None) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        verdicts.require_passing(conn, FLOW, batch, tables or [STAGED, KEYS])


def test_a_passing_verdict_is_recorded_with_its_digest_and_accepted_while_nothing_changes(dst: str) -> None:
    seal = seal_and_record(dst)
    assert seal.digest is not None
    assert [(t["table"], t["rows"]) for t in seal.digest["tables"]] == [(str(STAGED), 500), (str(KEYS), 600)]
    with psycopg.connect(dst) as conn:
        found = verdicts.read(conn, FLOW, BATCH)
    assert found is not None
    assert (found["passed"], found["run_id"], found["staging_table"]) == (True, RUN, str(STAGED))
    check(dst)
    # Maintenance that changes no row must not refuse the batch: reads, row locks, VACUUM, FREEZE, ANALYZE.
    execute(
        dst,
        f"SELECT * FROM {STAGED} WHERE id < 10 FOR UPDATE",
        f"VACUUM {STAGED}",
        f"VACUUM (FREEZE) {KEYS}",
        f"ANALYZE {STAGED}",
        f"CREATE INDEX ON {STAGED} (id)",
    )
    check(dst)
    check(dst)  # a promote retry checks again


def test_the_gate_row_count_is_taken_from_the_builtin_check_only(dst: str) -> None:
    builtin = {"type": "expect_table_row_count_to_equal", "meta": {"syncgate": "builtin"}, "kwargs": {}}
    with verdicts.sealed("dst_db", [STAGED]) as seal:
        # A count the table does not have: the digest keeps it, so the seal took it without counting.
        seal.observed([{**builtin, "success": True, "observed_value": 499}])
    assert seal.digest is not None and seal.digest["tables"][0]["rows"] == 499
    users = [
        {"type": "expect_table_row_count_to_equal", "meta": {}, "kwargs": {}, "observed_value": 17},
        {**builtin, "kwargs": {"row_condition": 'status == "X"'}, "observed_value": 17},
    ]
    with verdicts.sealed("dst_db", [STAGED]) as seal:
        seal.observed(users)  # a spec's own (or conditioned) count is not the table's
    assert seal.digest is not None and seal.digest["tables"][0]["rows"] == 500


def test_a_batch_without_a_verdict_is_refused(dst: str) -> None:
    seal_and_record(dst)
    with pytest.raises(
        FatalError, match="batch other of flow 'gate_flow' has no quality verdict: verify did not"
    ):
        check(dst, batch="other")


def test_a_rejected_batch_is_refused_with_the_reason(dst: str) -> None:
    seal_and_record(
        dst, passed=False, reason="expect_column_values_to_be_in_set on status (unexpected_count=1)"
    )
    with pytest.raises(FatalError) as caught:
        check(dst)
    message = str(caught.value)
    assert "batch batch-1 of flow 'gate_flow' has no passing quality verdict" in message
    assert "verify rejected it: expect_column_values_to_be_in_set on status (unexpected_count=1)" in message
    assert "target and watermark are unchanged" in message and "rerun the flow" in message


def test_a_verdict_on_other_tables_is_refused(dst: str) -> None:
    seal_and_record(dst)
    with pytest.raises(FatalError, match="was verified on .*__abc, .*__keys, not on .*__abc;"):
        check(dst, tables=[STAGED])


CHANGES = {
    "update": (
        [f"UPDATE {STAGED} SET name = name WHERE id = 7"],
        "1 row\\(s\\) of .* were written after verify",
    ),
    "insert": (
        [f"INSERT INTO {STAGED} VALUES (9999, 'new', 1)"],
        "1 row\\(s\\) of .* were written after verify",
    ),
    "copy": ([f"COPY {STAGED} FROM PROGRAM 'echo 9998,x,1' (FORMAT csv)"], "were written after verify"),
    "delete": ([f"DELETE FROM {STAGED} WHERE id = 7"], "holds 499 rows where verify checked 500"),
    "delete and reinsert the same row": (
        [f"DELETE FROM {STAGED} WHERE id = 7", f"INSERT INTO {STAGED} VALUES (7, 'name 7', 10.5)"],
        "1 row\\(s\\) of .* were written after verify",
    ),
    "truncate and reload identical rows": (
        [f"TRUNCATE {STAGED}", f"INSERT INTO {STAGED} {ROWS}"],
        "was emptied, rewritten or replaced",
    ),
    "add column": ([f"ALTER TABLE {STAGED} ADD COLUMN extra int"], "columns of .* changed"),
    "add column with a default": ([f"ALTER TABLE {STAGED} ADD COLUMN extra int DEFAULT 1"], "columns of"),
    "drop column": ([f"ALTER TABLE {STAGED} DROP COLUMN name"], "columns of .* changed"),
    "change a column type": ([f"ALTER TABLE {STAGED} ALTER COLUMN amount TYPE numeric(6,1)"], "rewritten"),
    "vacuum full": ([f"VACUUM FULL {STAGED}"], "was emptied, rewritten or replaced"),
    "drop and recreate": (
        [
            f"DROP TABLE {STAGED}",
            f"CREATE UNLOGGED TABLE {STAGED} (id bigint, name text, amount numeric(12,2))",
            f"INSERT INTO {STAGED} {ROWS}",
        ],
        "rewritten or replaced",
    ),
    "drop": ([f"DROP TABLE {STAGED}"], "staged table .* no longer exists"),
    "a child table adds rows": (
        [f"CREATE TABLE syncgate_staging.extra () INHERITS ({STAGED})"],
        "another table now inherits from staged table",
    ),
    "the key set loses a key": ([f"DELETE FROM {KEYS} WHERE id = 3"], "__keys holds 599 rows where verify"),
    "the key set gains a key": ([f"INSERT INTO {KEYS} VALUES (0)"], "__keys were written after verify"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_batch_changed_after_verify_is_refused(dst: str, change: str) -> None:
    statements, reason = CHANGES[change]
    seal_and_record(dst)
    check(dst)
    execute(dst, *statements)
    with pytest.raises(FatalError, match="changed after verify passed it") as caught:
        check(dst)
    assert caught.match(reason)
    assert "Clear verify and promote to check the batch again, or rerun the flow" in str(caught.value)


def test_a_transaction_open_across_the_seal_cannot_write_unseen(dst: str) -> None:
    """Its id is older than the seal's snapshot's xmax: it is caught as one still running (xip)."""
    with psycopg.connect(dst) as early:
        found = early.execute("SELECT pg_current_xact_id()::text").fetchone()  # an id before the seal
        assert found is not None
        execute(dst, "SELECT pg_current_xact_id()")  # a later transaction completes: xmax passes it
        seal = seal_and_record(dst)
        xmin, xmax, running = seal.digest["snapshot"].split(":")
        assert found[0] in running.split(",") and int(found[0]) < int(xmax)
        check(dst)
        early.execute(f"UPDATE {STAGED} SET amount = 0 WHERE id = 1")
        early.commit()
    with pytest.raises(FatalError, match="1 row\\(s\\) of .* were written after verify"):
        check(dst)


def test_the_seal_waits_for_writers_and_gives_up_with_a_retriable_error(
    dst: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verdicts, "SEAL_LOCK_TIMEOUT", "200ms")
    with psycopg.connect(dst) as writer:
        writer.execute(f"UPDATE {STAGED} SET amount = 0 WHERE id = 1")  # not committed
        with pytest.raises(RetriableError, match="another session is writing to the staged batch"):
            seal_and_record(dst)


def test_the_check_keeps_writers_out_until_promote_commits(dst: str) -> None:
    seal_and_record(dst)
    with psycopg.connect(dst) as promote_conn, promote_conn.transaction():
        verdicts.require_passing(promote_conn, FLOW, BATCH, [STAGED, KEYS])
        with psycopg.connect(dst) as other:
            other.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(f"UPDATE {STAGED} SET amount = 0 WHERE id = 1")


def test_a_verdict_is_replaced_by_a_new_check_and_pruned_once_its_table_is_gone(dst: str) -> None:
    seal_and_record(dst, passed=False, reason="bad")
    execute(dst, f"UPDATE {STAGED} SET name = 'fixed' WHERE id = 1")
    seal_and_record(dst)  # verify cleared and run again on the same batch
    check(dst)
    assert rows(dst, "SELECT batch_id, passed FROM syncgate.batch_verdicts") == [(BATCH, True)]

    def next_run(table: TableRef, batch: str) -> None:
        execute(dst, f"CREATE UNLOGGED TABLE {table} (id bigint)")
        with verdicts.sealed("dst_db", [table]) as seal:
            pass
        with psycopg.connect(dst) as conn:
            verdicts.record(conn, FLOW, f"run-{batch}", batch, seal, passed=True)

    next_run(TableRef("syncgate_staging", "gate_flow__b2"), "batch-2")  # batch-1 is still staged: kept
    assert rows(dst, "SELECT batch_id FROM syncgate.batch_verdicts ORDER BY 1") == [(BATCH,), ("batch-2",)]
    execute(dst, f"DROP TABLE {STAGED}")  # promoted, or dropped by a later load
    next_run(TableRef("syncgate_staging", "gate_flow__b3"), "batch-3")
    assert rows(dst, "SELECT batch_id FROM syncgate.batch_verdicts ORDER BY 1") == [
        ("batch-2",),
        ("batch-3",),
    ]


def start_run(url: str, run_id: str, batch: str | None, **values: Any) -> None:
    with psycopg.connect(url) as conn:
        audit.start_run(conn, FLOW, run_id, batch_id=batch)
        if values:
            audit.update_run(conn, FLOW, run_id, **values)


def test_without_a_manifest_a_committed_run_repeats_its_counts(dst: str) -> None:
    start_run(dst, RUN, BATCH, status="success", rows_inserted=5, rows_updated=2, rows_deleted=1)
    assert verdicts.without_manifest("dst_db", FLOW, RUN) == {
        "rows_inserted": 5,
        "rows_updated": 2,
        "rows_deleted": 1,
    }


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("rejected", "has no passing quality verdict \\(verify rejected it: bad status\\)"),
        ("none", "has no quality verdict \\(verify did not check it\\)"),
        ("passed", "has a passing verdict, but verify's result \\(the batch manifest\\) is missing"),
    ],
)
def test_without_a_manifest_promote_refuses_and_says_why(dst: str, verdict: str, expected: str) -> None:
    start_run(dst, RUN, BATCH, **({"status": "rejected"} if verdict == "rejected" else {}))
    if verdict != "none":
        seal_and_record(
            dst, passed=verdict == "passed", reason="bad status" if verdict == "rejected" else None
        )
    with pytest.raises(FatalError) as caught:
        verdicts.without_manifest("dst_db", FLOW, RUN)
    message = str(caught.value)
    assert "promote of flow 'gate_flow' received no batch: its verify task produced no result" in message
    assert caught.match(f"Batch {BATCH} of run {RUN} {expected}")
    assert "target and watermark are unchanged" in message


def test_without_a_manifest_or_a_staged_batch_promote_refuses(dst: str) -> None:
    with pytest.raises(FatalError, match=f"run {RUN} staged no batch; nothing was applied"):
        verdicts.without_manifest("dst_db", FLOW, RUN)
    start_run(dst, RUN, None)
    with pytest.raises(FatalError, match="staged no batch"):
        verdicts.without_manifest("dst_db", FLOW, RUN)
