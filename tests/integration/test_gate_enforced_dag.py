"""Through Airflow (``dag.test()``): marking a rejected verify as success does not promote its batch.

``mark_success_pattern`` marks tasks success without running them, as a user does in the UI.
Run with the logical date and ``run_after`` of the rejected run, ``dag.test()`` replaces that
DagRun by one with the same run id, so promote meets the rejected run's audit row and batch.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, flows_dag_bag, rows, seed_orders, task_states

pytestmark = pytest.mark.integration

SPEC = """
id: gate_orders
description: The quality gate holds even when verify is marked success by hand.
owner: qa
tags: [test]
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.orders
  primary_key: [id]
  cursor: updated_at
  columns: [id, status, amount, updated_at]
target:
  type: postgres
  conn_id: dst_db
  table: analytics.orders
  write: merge
transform:
  map_values: {status: {P: pending, S: shipped, X: cancelled}}
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {column: status, value_set: [pending, shipped, cancelled]}
"""


def target_state(dst: str) -> tuple[object, object]:
    return (
        rows(dst, "SELECT id, xmin::text, status FROM analytics.orders ORDER BY id"),
        rows(dst, "SELECT value, boundary_keys FROM syncgate.watermarks"),
    )


def gate_orders_dag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The ``gate_orders`` flow's DAG, bagged from a flows folder holding only its spec."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gate_orders.yml").write_text(textwrap.dedent(SPEC))
    return flows_dag_bag(monkeypatch, flows).dags["gate_orders"]


def state_of(dag_run: Any) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def test_promote_refuses_a_rejected_batch_when_verify_is_marked_success(
    databases: dict[str, str],
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 120)
    dag = gate_orders_dag(monkeypatch, tmp_path)
    assert state_of(dag.test()) == "success"

    execute(
        src, "UPDATE public.orders SET status = 'Q', updated_at = now() WHERE id = 17"
    )  # violates the gate
    rejected = dag.test()
    assert task_states(rejected)["verify"] == "failed"
    before = target_state(dst)

    # The user marks verify success by hand: its upstream tasks already ran, so they are marked too.
    capfd.readouterr()
    caplog.clear()
    forced = dag.test(
        logical_date=rejected.logical_date,
        run_after=rejected.run_after,
        mark_success_pattern="extract|transform|load|verify",
    )
    assert forced.run_id == rejected.run_id
    assert task_states(forced) == {
        "extract": "success", "transform": "success", "load": "success", "verify": "success",
        "promote": "failed",
    }  # fmt: skip
    assert state_of(forced) == "failed"
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "received no batch: its verify task produced no result" in logs
    assert (
        "has no passing quality verdict (verify rejected it: expect_column_values_to_be_in_set on status"
        in logs
    )
    assert "TypeError" not in logs
    assert target_state(dst) == before
    audit = rows(
        dst, "SELECT status, quality_verdict FROM syncgate.sync_runs WHERE run_id = %s", (rejected.run_id,)
    )
    assert audit == [("rejected", "failed")]

    # A fresh run whose verify is marked success: its batch is staged but was never checked.
    unchecked = dag.test(mark_success_pattern="verify")
    assert task_states(unchecked)["promote"] == "failed"
    out, err = capfd.readouterr()
    assert "has no quality verdict (verify did not check it)" in out + err + caplog.text
    assert target_state(dst) == before
    assert rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (unchecked.run_id,)) == [
        ("failed",)
    ]

    # Rerunning the flow once the source is fixed goes through the gate as usual.
    execute(src, "UPDATE public.orders SET status = 'S', updated_at = now() WHERE id = 17")
    assert state_of(dag.test()) == "success"
    assert rows(dst, "SELECT status FROM analytics.orders WHERE id = 17") == [("shipped",)]


def test_promote_refuses_a_batch_whose_staged_table_changed_after_verify_passed_it(
    databases: dict[str, str],
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Between a passing verify and promote, someone edits the staged batch: the run fails at
    promote, says why, and the target and watermark stay as they were."""
    from syncgate.pipeline import verify as verify_stage

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 60)
    dag = gate_orders_dag(monkeypatch, tmp_path)
    assert state_of(dag.test()) == "success"
    execute(src, "UPDATE public.orders SET amount = 5, updated_at = now() WHERE id <= 3")
    before = target_state(dst)

    real_verify = verify_stage.verify

    def verify_then_edit(spec: Any, run: Any, batch: Any) -> Any:
        verified = real_verify(spec, run, batch)  # the gate passes ...
        execute(dst, f"UPDATE {verified.staging_table} SET amount = 999999 WHERE id = 2")  # ... then an edit
        return verified

    monkeypatch.setattr(verify_stage, "verify", verify_then_edit)
    capfd.readouterr()
    caplog.clear()
    edited = dag.test()
    assert task_states(edited)["verify"] == "success"
    assert task_states(edited)["promote"] == "failed"
    out, err = capfd.readouterr()
    assert "changed after verify passed it" in out + err + caplog.text
    assert target_state(dst) == before
    assert rows(dst, "SELECT amount FROM analytics.orders WHERE id = 2") != [(999999,)]
