"""An Airflow 3 backfill (``airflow backfill create``) re-syncs exactly its data interval.

The backfill runs are created by the real CLI against the test metadata database. They are then
executed with ``dag.test()``'s in-process task loop instead of a scheduler + executor + API
server, which would add a minute of start-up per test run: the test points ``dag.test()`` at
the backfill run instead of letting it create a manual one. Everything the tasks see
(``run_type``, data interval) comes from Airflow's own backfill machinery.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

SPEC = """
id: e2e_backfill
schedule: "@hourly"
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.events
  primary_key: [id]
  cursor: updated_at
  deletes: hard
target:
  type: postgres
  conn_id: dst_db
  table: analytics.events
"""


def load_dag(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    return DagBag(dag_folder=str(REPO / "dags")).dags["e2e_backfill"]


def run_existing(monkeypatch: pytest.MonkeyPatch, dag: Any, run_id: str) -> Any:
    """Run an existing DagRun (here: one the backfill created) through ``dag.test()``'s loop."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState

    def existing_run(*, dag: Any, session: Any, **_: Any) -> DagRun:
        run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
        run.state = DagRunState.RUNNING
        session.commit()
        run.dag = dag
        return run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", existing_run)
    return dag.test()


def test_backfill_restores_exactly_its_interval_and_keeps_the_live_watermark(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.events (id bigint PRIMARY KEY, kind text, updated_at timestamptz NOT NULL)",
        # 600 events over three hours: 00:00-00:59, 01:00-01:59, 02:00-02:59.
        "INSERT INTO public.events SELECT g, 'k' || g % 7, '2026-01-01 00:00+00'::timestamptz + g * interval '18 s' "
        "FROM generate_series(0, 599) g",
    )
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "e2e_backfill.yml").write_text(textwrap.dedent(SPEC))
    dag = load_dag(monkeypatch, flows)
    first = dag.test()  # live run: syncs everything and serialises the DAG for the CLI
    assert str(getattr(first.state, "value", first.state)) == "success"
    mark = rows(dst, "SELECT value, boundary_keys FROM syncgate.watermarks")
    assert mark[0][0] == "2026-01-01 02:59:42+00"

    # Lose target rows in hour 1 (ids 200-399) and hour 2 (ids 400-599).
    execute(dst, "DELETE FROM analytics.events WHERE id BETWEEN 250 AND 260 OR id BETWEEN 450 AND 460")

    created = subprocess.run(
        [sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", "e2e_backfill",
         "--from-date", "2026-01-01T01:00:00+00:00", "--to-date", "2026-01-01T01:30:00+00:00"],
        env={**os.environ}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    with create_session() as session:
        backfill_runs = [
            (r.run_id, r.data_interval_start, r.data_interval_end)
            for r in session.query(DagRun).filter(
                DagRun.dag_id == "e2e_backfill", DagRun.run_type == DagRunType.BACKFILL_JOB
            )
        ]
    assert len(backfill_runs) == 1, backfill_runs
    run_id, start, end = backfill_runs[0]
    assert (start.hour, end.hour) == (1, 2)

    result = run_existing(monkeypatch, dag, run_id)
    assert str(getattr(result.state, "value", result.state)) == "success"
    ids = {r[0] for r in rows(dst, "SELECT id FROM analytics.events")}
    assert set(range(250, 261)) <= ids, "rows of the backfilled interval are restored"
    assert not ids & set(range(450, 461)), "rows outside the interval are not touched"
    assert rows(dst, "SELECT value, boundary_keys FROM syncgate.watermarks") == mark
    audit = rows(
        dst,
        "SELECT run_type, status, rows_extracted, rows_deleted FROM syncgate.sync_runs WHERE run_id = %s",
        (run_id,),
    )
    assert audit == [("backfill", "success", 200, 0)]
