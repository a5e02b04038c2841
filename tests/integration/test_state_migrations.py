"""Versioned state migrations on a real PostgreSQL: applied once under a lock, no DDL when current.

DDL is observed, not assumed: an event trigger on ``ddl_command_start`` (it fires before any
CREATE / ALTER / COMMENT, even one that turns out to be a no-op ``IF NOT EXISTS``) records
every DDL command run in the database into ``public.ddl_log``.
"""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from helpers import execute, rows

from syncgate.cli.main import EXIT_OK, EXIT_REFUSED, main
from syncgate.db.connect import connect
from syncgate.state import audit
from syncgate.state.migrations import (
    _VERSION_DDL,
    Migration,
    StateSchemaTooNew,
    current_version,
    latest,
    migrate,
)
from syncgate.state.schema import STEPS, ensure_state_schema

pytestmark = pytest.mark.integration

WORKERS = 8
ROUNDS = 4

DDL_LOG = """
CREATE TABLE public.ddl_log (id bigserial PRIMARY KEY, tag text NOT NULL, query text,
                             at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ddl_log (tag, query) VALUES (tg_tag, current_query());
END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_start EXECUTE FUNCTION public.log_ddl();
"""

# The state schema as the first syncgate releases created it: sync_runs without the columns
# added later, incidents without resolution_notified_at and without the retained_wal kind.
OLD_RELEASE_DDL = """
CREATE SCHEMA syncgate;
CREATE SCHEMA syncgate_staging;
CREATE TABLE syncgate.watermarks (
    flow_id text PRIMARY KEY, cursor_column text NOT NULL, value text,
    boundary_keys jsonb NOT NULL DEFAULT '[]'::jsonb, batch_id text, updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE syncgate.sync_runs (
    flow_id text NOT NULL, run_id text NOT NULL, run_type text, batch_id text, status text NOT NULL,
    window_from text, window_to text, watermark_before text, watermark_after text,
    rows_extracted bigint, rows_inserted bigint, rows_updated bigint, rows_deleted bigint,
    rows_rejected bigint, bytes_landed bigint, extract_seconds double precision,
    transform_seconds double precision, load_seconds double precision, verify_seconds double precision,
    promote_seconds double precision, staging_table text, quality_verdict text, quality_report text,
    failed_expectations jsonb, error text, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
    PRIMARY KEY (flow_id, run_id),
    CONSTRAINT sync_runs_status CHECK (status IN ('running', 'success', 'rejected', 'failed'))
);
CREATE TABLE syncgate.incidents (
    id bigserial PRIMARY KEY, flow_id text NOT NULL, kind text NOT NULL, severity text NOT NULL,
    status text NOT NULL DEFAULT 'open', summary text NOT NULL, details jsonb NOT NULL DEFAULT '{}'::jsonb,
    opened_at timestamptz NOT NULL DEFAULT now(), last_notified_at timestamptz,
    notify_count integer NOT NULL DEFAULT 0, resolved_at timestamptz,
    CONSTRAINT incidents_status CHECK (status IN ('open', 'resolved')),
    CONSTRAINT incidents_kind CHECK (kind IN ('freshness', 'failures', 'lag_spike', 'duration_spike'))
);
INSERT INTO syncgate.watermarks (flow_id, cursor_column, value) VALUES ('orders_flow', 'updated_at', '2026-01-02');
INSERT INTO syncgate.sync_runs (flow_id, run_id, status, started_at, finished_at, rows_inserted)
VALUES ('orders_flow', 'scheduled__1', 'success', '2026-01-01 10:00+00', '2026-01-01 10:01+00', 42),
       ('orders_flow', 'scheduled__2', 'failed', '2026-01-01 11:00+00', '2026-01-01 11:01+00', NULL),
       ('gone_flow', 'manual__1', 'failed', '2026-02-01 09:00+00', '2026-02-01 09:00+00', NULL);
"""


@pytest.fixture
def dst(databases: dict[str, str]) -> str:
    """The empty state database (``dst_db``), with every DDL command logged from now on."""
    execute(databases["dst"], DDL_LOG)
    return databases["dst"]


def ddl(url: str) -> list[str]:
    """The DDL commands run since the log began (the log's own setup is not in it)."""
    return [tag for (tag,) in rows(url, "SELECT tag FROM public.ddl_log ORDER BY id")]


def clear_ddl(url: str) -> None:
    execute(url, "DELETE FROM public.ddl_log")


def versions(url: str) -> list[int]:
    return [v for (v,) in rows(url, "SELECT version FROM syncgate.schema_version ORDER BY version")]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


def test_an_empty_database_is_migrated_once_then_only_checked(dst: str) -> None:
    with connect("dst_db") as conn:
        assert current_version(conn) == 0
        conn.commit()
        ensure_state_schema(conn)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert versions(dst) == [s.version for s in STEPS] == list(range(1, latest(STEPS) + 1))
    assert "CREATE TABLE" in ddl(dst) and "ALTER TABLE" in ddl(dst)  # the log does see our DDL

    clear_ddl(dst)
    for _ in range(3):  # every task start: a version read, nothing else
        with connect("dst_db") as conn:
            ensure_state_schema(conn)
    assert ddl(dst) == []
    assert len(rows(dst, "SELECT * FROM syncgate.schema_version")) == len(STEPS)


def test_a_current_schema_sees_no_ddl_from_a_whole_run_nor_the_monitor(
    dst: str, databases: dict[str, str]
) -> None:
    """A flow's runs and the monitor on a migrated database: DDL only on the run's own staging
    and target tables, never on the state schema (its tables would be locked against promotes)."""
    from helpers import make_spec, seed_orders, sync

    from syncgate.observe.monitor import monitor
    from syncgate.spec.alerts import Alerts

    seed_orders(databases["src"], 30)
    assert cli("state", "migrate", "--conn-id", "dst_db")[0] == EXIT_OK
    clear_ddl(dst)
    spec = make_spec(freshness={"column": "updated_at", "max_age": "2h"})
    sync(spec)
    sync(spec)
    monitor([spec], Alerts(), base_url="")
    logged = rows(dst, "SELECT tag, query FROM public.ddl_log ORDER BY id")
    assert logged, "the runs created staging and target tables: the log must have seen them"
    on_state = [
        (tag, query) for tag, query in logged
        if "syncgate." in query.replace("syncgate_", "") or '"syncgate".' in query
    ]  # fmt: skip
    assert on_state == []


def test_an_old_release_schema_is_adopted_and_upgraded_keeping_its_rows(dst: str) -> None:
    execute(dst, OLD_RELEASE_DDL)
    with connect("dst_db") as conn:
        assert current_version(conn) == 0  # no version table: made by a syncgate without versions
        conn.commit()
    code, out, err = cli("state", "migrate", "--conn-id", "dst_db")
    assert code == EXIT_OK, err
    applied = [step.version for step in STEPS]
    assert out == f"dst_db: version 0 -> {latest(STEPS)} (applied migration {', '.join(map(str, applied))})\n"
    assert versions(dst) == applied
    # The later columns and constraint are there, the old rows untouched.
    assert rows(dst, "SELECT run_id, rows_inserted, triggered_by, bytes_wire FROM syncgate.sync_runs "
                     "WHERE flow_id = 'orders_flow' ORDER BY run_id") == [
        ("scheduled__1", 42, None, None), ("scheduled__2", None, None, None)]  # fmt: skip
    assert rows(dst, "SELECT value FROM syncgate.watermarks") == [("2026-01-02",)]
    execute(dst, "INSERT INTO syncgate.incidents (flow_id, kind, severity, summary, resolution_notified_at) "
                 "VALUES ('x', 'retained_wal', 'critical', 's', now())")  # fmt: skip
    # Flows known before the upgrade count as seen at their first run: no new grace for them.
    assert rows(dst, "SELECT flow_id, first_seen_at, seen_by FROM syncgate.flow_first_seen ORDER BY 1") == [
        ("gone_flow", datetime(2026, 2, 1, 9, tzinfo=UTC), "audit"),
        ("orders_flow", datetime(2026, 1, 1, 10, tzinfo=UTC), "audit"),
    ]
    clear_ddl(dst)
    assert (
        cli("state", "migrate", "--conn-id", "dst_db")[1]
        == f"dst_db: version {latest(STEPS)}, current: nothing to do\n"
    )
    assert cli("state", "version", "--conn-id", "dst_db")[1] == f"dst_db: version {latest(STEPS)}, current\n"
    assert ddl(dst) == []


def test_the_schema_the_previous_syncgate_created_at_task_start_is_adopted(dst: str) -> None:
    """Step 1 is that DDL: a database it ran on many times is adopted as version 1 and moves on."""
    execute(dst, STEPS[0].sql, STEPS[0].sql)
    execute(dst, "INSERT INTO syncgate.sync_runs (flow_id, run_id, status) VALUES ('f', 'r', 'running')")
    assert cli("state", "version", "--conn-id", "dst_db")[1] == (
        "dst_db: version 0, no state schema yet: run `python -m syncgate state migrate`\n"
    )
    with connect("dst_db") as conn:
        ensure_state_schema(conn)  # a task of the new release, before anyone ran `state migrate`
    assert versions(dst) == [step.version for step in STEPS] and rows(
        dst, "SELECT flow_id FROM syncgate.flow_first_seen"
    ) == [("f",)]


def test_a_newer_schema_is_refused_clearly_and_left_untouched(dst: str) -> None:
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    newer = latest(STEPS) + 1
    execute(
        dst, f"INSERT INTO syncgate.schema_version (version, description) VALUES ({newer}, 'from the future')"
    )
    clear_ddl(dst)
    with connect("dst_db") as conn, pytest.raises(StateSchemaTooNew) as refused:
        ensure_state_schema(conn)
    message = str(refused.value)
    assert f"at version {newer}, newer than this syncgate knows (up to {latest(STEPS)})" in message
    assert "does not downgrade" in message and dst.rsplit("/", 1)[1] in message
    code, out, err = cli("state", "migrate", "--conn-id", "dst_db")
    assert code == EXIT_REFUSED and out == "" and f"at version {newer}" in err
    assert cli("state", "version", "--conn-id", "dst_db")[0] == EXIT_REFUSED
    assert ddl(dst) == [] and versions(dst) == [*range(1, newer + 1)]


def test_a_refused_run_fails_without_retrying(dst: str, databases: dict[str, str]) -> None:
    """The task-level consequence: the stage raises a fatal error (no retry hammers the database)."""
    from airflow.exceptions import AirflowFailException
    from helpers import make_spec, new_run, seed_orders

    from syncgate import dag_factory
    from syncgate.pipeline.extract import extract

    seed_orders(databases["src"], 3)
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    execute(dst, "INSERT INTO syncgate.schema_version (version, description) VALUES (99, 'future')")
    spec = make_spec()
    with pytest.raises(AirflowFailException, match="at version 99"):
        dag_factory._stage(lambda: extract(spec, new_run(spec)))


def test_concurrent_callers_apply_a_new_step_exactly_once(dst: str) -> None:
    """Appending a step is all an upgrade needs; 8 processes meeting it at once apply it once."""
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    step = Migration(
        latest(STEPS) + 1, "test: a new column", "ALTER TABLE syncgate.sync_runs ADD COLUMN extra text"
    )
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def work() -> None:
        try:
            with connect("dst_db") as conn:
                barrier.wait(timeout=60)
                applied.append(migrate(conn, (*STEPS, step)))
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(applied) == [[]] * (WORKERS - 1) + [[step.version]]  # one did it, the others found it done
    assert versions(dst)[-1] == step.version


def _promote_like(conn: psycopg.Connection[Any], flow_id: str, run_id: str) -> None:
    """What promote does to the state tables, in its order: read the flow's audit trail (the
    previous high-water mark), then update its run and watermark and record its freshness."""
    with conn.transaction():
        conn.execute(
            "SELECT high_water_mark FROM syncgate.sync_runs WHERE flow_id = %s AND status = 'success' "
            "ORDER BY started_at DESC LIMIT 1",
            (flow_id,),
        ).fetchall()
        conn.execute("SELECT pg_sleep(0.05)")  # the merge into the target
        audit.update_run(conn, flow_id, run_id, status="success", rows_inserted=1)
        conn.execute(
            "INSERT INTO syncgate.watermarks (flow_id, cursor_column, value) VALUES (%s, 'updated_at', %s) "
            "ON CONFLICT (flow_id) DO UPDATE SET value = EXCLUDED.value",
            (flow_id, run_id),
        )
        conn.execute(
            "INSERT INTO syncgate.freshness (flow_id, checked_by, run_id, status) VALUES (%s, 'promote', %s, 'ok')",
            (flow_id, run_id),
        )


def test_eight_first_runs_at_once_neither_deadlock_nor_need_a_retry(dst: str) -> None:
    """8 flows start at the same moment on an empty state database, round after round: each runs
    the tasks' start-up path (schema check, audit row) and a promote's state writes. Before
    versioned migrations every start-up ran the state DDL, whose table locks deadlocked with
    another task's promote (issue 14: DeadlockDetected, hidden by the retry)."""
    errors: list[str] = []
    barrier = threading.Barrier(WORKERS)

    def flow(n: int) -> None:
        flow_id = f"flow_{n}"
        for round_ in range(ROUNDS):
            run_id = f"scheduled__{round_}_{uuid.uuid4().hex[:6]}"
            try:
                barrier.wait(timeout=120)
                with connect("dst_db") as conn:
                    ensure_state_schema(conn)  # extract's start-up
                    audit.start_run(conn, flow_id, run_id)
                    conn.commit()
                with connect("dst_db") as conn:
                    ensure_state_schema(conn)  # load's start-up
                    audit.update_run(conn, flow_id, run_id, staging_table="syncgate_staging.x")
                    conn.commit()
                with connect("dst_db") as conn:
                    _promote_like(conn, flow_id, run_id)
            except threading.BrokenBarrierError:
                return
            except Exception as exc:
                errors.append(f"{flow_id} round {round_}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                barrier.abort()
                return

    threads = [threading.Thread(target=flow, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert rows(
        dst, "SELECT count(*) FILTER (WHERE status = 'success'), count(*) FROM syncgate.sync_runs"
    ) == [(WORKERS * ROUNDS, WORKERS * ROUNDS)]
    assert versions(dst) == [s.version for s in STEPS]  # migrated once
    # The first round's start-ups migrated the empty database; the 3 x 8 x 2 later ones issued no DDL.
    assert ddl(dst), "the first round migrated: the log must have seen it"
    assert rows(dst, "SELECT count(*) FROM public.ddl_log WHERE at > (SELECT min(started_at) "
                     "FROM syncgate.sync_runs WHERE run_id LIKE 'scheduled\\_1\\_%%')") == [(0,)]  # fmt: skip


def _first_run(n: int, barrier: Any, results: Any) -> None:
    """One flow's first run, in its own process: the five stages as the DAG chains them."""
    from helpers import make_spec, sync

    from syncgate.pipeline.startup import STAGE_LIBRARIES, import_libraries

    for stage in STAGE_LIBRARIES:  # imported before the release, as the demo's executor does
        import_libraries(stage)
    spec = make_spec(id=f"flow_{n}", target__table=f"analytics.orders_{n}")
    try:
        barrier.wait(timeout=120)
        sync(spec)
        results.put((n, "ok"))
    except BaseException as exc:
        results.put((n, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))


def test_eight_real_first_runs_in_parallel_processes_on_an_empty_state_database(
    dst: str, databases: dict[str, str]
) -> None:
    """The issue's scenario with the real stages: 8 flows' first runs, one process each, released
    at the same moment on a database without a state schema. Every run promotes at its first
    attempt; the state schema is migrated once; the runs' own DDL touches only their staging
    and target tables."""
    import multiprocessing

    from helpers import seed_orders

    seed_orders(databases["src"], 40)
    # Spawned, not forked: this process has threads by now, and a child forked while one of
    # them holds a lock can wait for it forever.
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    processes = [context.Process(target=_first_run, args=(n, barrier, results)) for n in range(WORKERS)]
    for p in processes:
        p.start()
    outcomes = dict(results.get(timeout=600) for _ in processes)
    for p in processes:
        p.join(timeout=60)
    assert outcomes == {n: "ok" for n in range(WORKERS)}
    assert rows(dst, "SELECT status, count(*) FROM syncgate.sync_runs GROUP BY status") == [
        ("success", WORKERS)
    ]
    assert versions(dst) == [s.version for s in STEPS]
    # Besides the migration's own statements, DDL only on the runs' staging and target tables.
    migration = {step.sql for step in STEPS} | {_VERSION_DDL}
    logged = [q for _, q in rows(dst, "SELECT tag, query FROM public.ddl_log") if q not in migration]
    on_state = [q for q in logged if "syncgate." in q.replace("syncgate_", "") or '"syncgate".' in q]
    assert logged and on_state == []
