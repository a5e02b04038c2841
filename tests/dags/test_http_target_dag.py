"""A flow with an HTTP target: same five tasks, an API Asset outlet, the promote task in its pool."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]

SPEC = """
id: crm_push
owner: crm-team
source:
  type: postgres
  conn_id: erp_db
  table: public.customers
  primary_key: [id]
  cursor: updated_at
target:
  type: http
  conn_id: crm_api
  state_conn_id: syncgate_state
  endpoint: /v1/customers
  pool: crm_api
"""


def test_http_target_dag_shape_outlet_and_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "crm_push.yml").write_text(SPEC)
    (tmp_path / "no_pool.yml").write_text(
        SPEC.replace("id: crm_push", "id: no_pool").replace("  pool: crm_api\n", "")
    )
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["crm_push"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "extract",
        "transform",
        "load",
        "verify",
        "promote",
    ]
    promote = dag.get_task("promote")
    assert [str(o.uri) for o in promote.outlets] == ["syncgate-http://crm_api/v1/customers"]
    assert promote.pool == "crm_api"
    assert dag.get_task("extract").pool == "default_pool"
    # Without `pool`, the API's shared pool (the HTTP sources' convention).
    assert bag.dags["no_pool"].get_task("promote").pool == "syncgate_crm_api"
    assert "API `/v1/customers` on connection `crm_api`" in (dag.doc_md or "")
    assert "`syncgate_state`" in (dag.doc_md or "")
