"""The benchmark's real-Airflow harness (bench/airflow_stack.py): starts, runs one flow, stops.

Scheduler, triggerer, dag-processor and api-server as separate processes, LocalExecutor (the
pre-importing one ``make demo`` ships), PostgreSQL metadata: a flow written into the stack's
flows folder is parsed, unpaused, triggered through the REST API and synced; every component
then exits on its SIGTERM and leaves no process behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench import latency_flow as lf
from bench.airflow_stack import AirflowStack, _session_pids

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_stack_runs_one_flow_and_stops_cleanly(tmp_path: Path) -> None:
    stack = AirflowStack(
        state_dir=tmp_path / "stack",
        flows_dir=tmp_path / "flows",
        databases=[lf.SOURCE_DB, lf.TARGET_DB],
        connections={lf.SOURCE_CONN: lf.SOURCE_DB, lf.TARGET_CONN: lf.TARGET_DB},
        settings={"AIRFLOW__CORE__EXECUTOR": "syncgate.executor.PrewarmedLocalExecutor"},
        pg_dir=REPO / ".syncgate" / "pg-stack-test",
        fresh_metadata=True,
    )
    with stack:
        with stack.connect(lf.SOURCE_DB) as src:
            lf.seed_source(src, rows=50)
        with stack.connect(lf.TARGET_DB) as dst:
            lf.drop_target(dst, flow_id=lf.FLOW_ID)  # a rerun on the kept cluster starts afresh
        lf.write_spec(stack.flows_dir, lf.flow_spec())
        stack.wait_for_dag(lf.FLOW_ID)
        stack.unpause(lf.FLOW_ID)
        run_id = stack.trigger(lf.FLOW_ID, "harness_check")

        assert stack.wait_for_run(lf.FLOW_ID, run_id) == "success"
        tasks = stack.task_times(lf.FLOW_ID, run_id)
        assert [t["task_id"] for t in tasks] == ["extract", "transform", "load", "verify", "promote"]
        assert all(t["state"] == "success" and t["start"] and t["end"] for t in tasks)
        with stack.connect(lf.SOURCE_DB) as src, stack.connect(lf.TARGET_DB) as dst:
            assert lf.fingerprint(dst, "analytics", "items") == lf.fingerprint(src, "public", "items")
        scheduler_log = stack.components["scheduler"].log_path.read_text(errors="replace")
        assert "pre-imported the stage libraries" in scheduler_log
        processes = {name: comp.process for name, comp in stack.components.items()}
        assert set(processes) == {"scheduler", "triggerer", "dag-processor", "api-server"}

    for name, process in processes.items():
        assert process.returncode is not None, f"{name} still running"
        assert _session_pids(process.pid) == [], f"{name} left processes behind"
    assert not stack.components
    # The cluster is stopped too: nothing listens on its port any more.
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", int(stack.pg_port or 0)), timeout=1).close()
    assert os.path.exists(stack.airflow_home / "scheduler.log")
