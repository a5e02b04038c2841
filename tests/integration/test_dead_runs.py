"""Killed runs: kill -9 mid-extract and mid-load, then the next run cleans up and syncs.

A subprocess runs the flow's stages under their real heartbeat (``state/leases.py``) and hangs
at a chosen point (the first landed row group, the staging COPY done); the test checks that a
live run is never reaped, kills it with SIGKILL, and runs the flow again in-process. The dead
run must end ``failed`` ("abandoned: no heartbeat since ..."), its staging tables and landed
files gone, and the target equal to the source. Landed files are private (0600 / 0700) under a
permissive umask.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from helpers import REPO, make_spec, rows, seed_orders, source_orders, sync, target_orders

from syncgate.batch.run import RunInfo
from syncgate.pipeline.extract import extract
from syncgate.pipeline.transform import transform

pytestmark = pytest.mark.integration

LEASE_SECONDS = "1"

# Runs the stages up to ``stop`` under the stage heartbeat and hangs there, as a task whose
# process is about to be killed would.
HANGING_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from syncgate import landing
    from syncgate.batch.run import RunInfo
    from syncgate.pipeline import load as load_stage
    from syncgate.pipeline.extract import extract
    from syncgate.pipeline.transform import transform
    from syncgate.state.leases import heartbeat
    from helpers import make_spec

    spec = make_spec()
    run = RunInfo(spec.id, sys.argv[2])
    stop, marker = sys.argv[3], Path(sys.argv[4])

    def hang():
        marker.write_text("hanging")
        while True:
            time.sleep(1)

    if stop == "extract":
        write = landing.ParquetSink.write

        def write_then_hang(self, table):
            write(self, table)
            hang()

        landing.ParquetSink.write = write_then_hang
    else:
        copy_into = load_stage.copy_into

        def copy_then_hang(*args, **kwargs):
            copy_into(*args, **kwargs)
            args[0].commit()  # the staged rows are there for anyone to see, as a big COPY's are
            hang()

        load_stage.copy_into = copy_then_hang
    with heartbeat(spec.state_conn_id, spec.id, run.run_id):
        batch = extract(spec, run)
    with heartbeat(spec.state_conn_id, spec.id, run.run_id):
        batch = transform(spec, batch)
    with heartbeat(spec.state_conn_id, spec.id, run.run_id):
        load_stage.load(spec, run, batch)
    """
)


def landed_entries(landing_root: Path) -> list[Path]:
    return sorted(p for p in landing_root.rglob("*"))


def start_hanging_run(tmp_path: Path, stop: str) -> tuple[subprocess.Popen[bytes], RunInfo]:
    spec = make_spec()
    run = RunInfo(spec.id, f"manual__doomed_{stop}")
    marker = tmp_path / f"hanging-{stop}"
    script = tmp_path / "hanging_run.py"
    script.write_text(HANGING_RUN)
    path = os.pathsep.join([str(REPO / "include"), str(REPO / "tests" / "integration")])
    env = {**os.environ, "PYTHONPATH": path, "SYNCGATE_RUN_LEASE_SECONDS": LEASE_SECONDS}
    process = subprocess.Popen(
        [sys.executable, str(script), "spec: helpers.make_spec()", run.run_id, stop, str(marker)],
        env=env,
    )
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert process.poll() is None, f"the run to be killed ended early (exit {process.returncode})"
        assert time.monotonic() < deadline, "the run to be killed never reached its hanging point"
        time.sleep(0.1)
    return process, run


def wait_for_expiry(dst: str, run: RunInfo) -> None:
    while rows(
        dst, "SELECT lease_expires_at > now() FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,)
    )[0][0]:
        time.sleep(0.2)


def staging_tables(dst: str) -> list[str]:
    return [t for (t,) in rows(dst, "SELECT tablename FROM pg_tables WHERE schemaname = 'syncgate_staging'")]


@pytest.mark.parametrize("stop", ["extract", "load"])
def test_a_killed_run_is_found_dead_and_its_leftovers_removed_by_the_next(
    databases: dict[str, str], airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    from syncgate.state.leases import reap

    src, dst = databases["src"], databases["dst"]
    landing_root = Path(urlsplit(os.environ["SYNCGATE_LANDING_URL"]).path)
    seed_orders(src, 20_000)
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", LEASE_SECONDS)

    process, doomed = start_hanging_run(tmp_path, stop)
    try:
        # Alive and hanging: its heartbeat keeps the lease, well past the lease's length.
        time.sleep(3 * float(LEASE_SECONDS))
        with psycopg.connect(dst) as conn:
            assert reap(conn, "orders_flow", keep="someone_else") == []
            conn.rollback()
        (status,) = rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (doomed.run_id,))[0]
        assert status == "running"
        left = [p for p in landed_entries(landing_root) if p.is_file() and p.suffix == ".parquet"]
        assert left, "the killed run landed nothing: the check below would prove nothing"
        if stop == "load":
            assert any(doomed.key in t for t in staging_tables(dst))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    wait_for_expiry(dst, doomed)

    result = sync(make_spec())

    assert result["counts"]["rows_inserted"] == 20_000
    assert target_orders(dst) == source_orders(src)
    status, error = rows(
        dst, "SELECT status, error FROM syncgate.sync_runs WHERE run_id = %s", (doomed.run_id,)
    )[0]
    assert status == "failed"
    assert error.startswith("abandoned: no heartbeat since ")
    assert [t for t in staging_tables(dst) if doomed.key in t] == []
    assert [p for p in landed_entries(landing_root) if p.is_file()] == []
    assert rows(dst, "SELECT count(*) FROM syncgate.sync_runs WHERE status = 'running'") == [(0,)]


def test_landed_files_are_readable_by_their_owner_only(
    databases: dict[str, str], airflow_db: Path, tmp_path: Path
) -> None:
    seed_orders(databases["src"], 500)
    spec = make_spec()
    run = RunInfo(spec.id, "manual__private")
    landing_root = Path(urlsplit(os.environ["SYNCGATE_LANDING_URL"]).path)
    previous = os.umask(0)  # permissive: everything would be world-readable and writable
    try:
        transform(spec, extract(spec, run))
    finally:
        os.umask(previous)
    entries = [landing_root, *landed_entries(landing_root)]
    assert any(p.suffix == ".parquet" for p in entries)
    modes = {str(p.relative_to(landing_root.parent)): stat.S_IMODE(p.stat().st_mode) for p in entries}
    assert modes == {name: 0o700 if (landing_root.parent / name).is_dir() else 0o600 for name in modes}


def test_the_monitor_marks_a_dead_run_failed_without_waiting_for_the_next_run(
    databases: dict[str, str], airflow_db: Path
) -> None:
    from syncgate.db.connect import connect
    from syncgate.observe.monitor import monitor
    from syncgate.spec.alerts import Alerts
    from syncgate.state import audit, leases
    from syncgate.state.schema import ensure_state_schema

    spec = make_spec()
    with connect(spec.state_conn_id) as conn:
        ensure_state_schema(conn)
        for run_id in ("manual__dead", "manual__alive", "manual__old"):
            audit.start_run(conn, spec.id, run_id, run_type="manual")
        leases.renew(conn, spec.id, "manual__dead", seconds=-1)  # its heartbeat stopped a second ago
        leases.renew(conn, spec.id, "manual__alive", seconds=600)
        # No lease (written by an older syncgate), days old: the stuck-run rule's, not the monitor's.
        conn.execute(
            "UPDATE syncgate.sync_runs SET started_at = now() - interval '3 days' WHERE run_id = 'manual__old'"
        )
        conn.commit()
    monitor([spec], Alerts(), base_url="http://airflow.invalid")
    states = dict(rows(databases["dst"], "SELECT run_id, status FROM syncgate.sync_runs"))
    assert states == {"manual__dead": "failed", "manual__alive": "running", "manual__old": "running"}
    (error,) = rows(databases["dst"], "SELECT error FROM syncgate.sync_runs WHERE run_id = 'manual__dead'")[0]
    assert error.startswith("abandoned: no heartbeat since ")
