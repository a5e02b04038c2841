"""The target's asset event, through the real DAG (``dag.test()``): Airflow records it when
promote succeeds, and only a promote that settles its batch (or finds it already settled as
promoted) emits it. A superseded batch wrote nothing: its promote ends skipped, so downstream
DAGs scheduled on the target are not started, while the run still succeeds and its audit row
and report say ``superseded``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, flows_dag_bag, rows, seed_orders, sync, task_states

from syncgate.pipeline import verify as verify_module
from syncgate.report.paths import report_files

pytestmark = pytest.mark.integration

SPEC = """
id: asset_orders
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.orders
  primary_key: [id]
  cursor: updated_at
  columns: [id, status, amount, note, updated_at]
target:
  type: postgres
  conn_id: dst_db
  table: analytics.orders
"""


def target_events(dag: Any, run_id: str) -> list[str]:
    """Source task ids of the asset events the run recorded for the promote task's outlet."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    (outlet,) = dag.get_task("promote").outlets
    with create_session() as session:
        return list(
            session.scalars(
                select(AssetEvent.source_task_id)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .where(
                    AssetModel.uri == outlet.uri,
                    AssetEvent.source_dag_id == dag.dag_id,
                    AssetEvent.source_run_id == run_id,
                )
            )
        )


def state(dag_run: Any) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def test_a_superseded_promote_emits_no_asset_event_and_the_run_still_succeeds(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src, dst = databases["src"], databases["dst"]
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "asset_orders.yml").write_text(textwrap.dedent(SPEC))
    seed_orders(src, 40)
    dag = flows_dag_bag(monkeypatch, flows).dags["asset_orders"]

    promoted = dag.test()
    assert state(promoted) == "success" and task_states(promoted)["promote"] == "success"
    assert target_events(dag, promoted.run_id) == ["promote"]

    # The next run is overtaken: once its verify passed, a newer run reads and promotes first
    # (two runs of an event-driven flow in flight), so its own batch has nothing left to write.
    real_verify = verify_module.verify

    def verify_then_overtaken(spec: Any, run: Any, batch: Any) -> Any:
        verified = real_verify(spec, run, batch)
        sync(spec)
        return verified

    monkeypatch.setattr(verify_module, "verify", verify_then_overtaken)
    execute(src, "UPDATE public.orders SET note = 'late', updated_at = now() WHERE id <= 5")
    overtaken = dag.test()
    assert target_events(dag, overtaken.run_id) == []
    assert state(overtaken) == "success"
    assert task_states(overtaken)["promote"] == "skipped"
    audit = rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (overtaken.run_id,))
    assert audit == [("superseded",)]
    report = json.loads(report_files("asset_orders", overtaken.run_id)[0].read_text())
    assert report["status"] == "superseded"
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE note = 'late'") == [(5,)]
