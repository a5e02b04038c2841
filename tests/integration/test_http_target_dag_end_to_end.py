"""The real DAG of an HTTP-target flow, run by ``dag.test()`` against the demo CRM on loopback."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crm_push import crm_customers, seed_customers, source_customers, wire_crm
from helpers import execute, flows_dag_bag, rows, task_states

pytestmark = pytest.mark.integration


SPEC = """
id: e2e_crm
description: Customers pushed to the CRM.
owner: qa
schedule: "0 * * * *"
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.customers
  primary_key: [id]
  cursor: updated_at
  deletes: soft
  soft_delete_column: deleted_at
target:
  type: http
  conn_id: crm_api
  state_conn_id: dst_db
  endpoint: /v1/customers
  fields: [id, name, email, status, tier, lifetime_value, address, tags]
  batch: {endpoint: /v1/customers/batch, size: 25}
  retry: {max_attempts: 4, backoff_seconds: 0.01}
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {column: status, value_set: [active, inactive, lead]}
"""


def run_flow(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    return flows_dag_bag(monkeypatch, flows).dags["e2e_crm"].test()


def test_the_dag_pushes_changes_refuses_bad_records_and_recovers(
    databases: dict[str, str],
    airflow_db: Path,
    crm_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    src, dst = databases["src"], databases["dst"]
    crm = crm_factory(customers=0, contacts=0, token="crm-Secret-T0ken")
    wire_crm(monkeypatch, crm)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "e2e_crm.yml").write_text(textwrap.dedent(SPEC))
    seed_customers(src, 80)

    first = run_flow(monkeypatch, flows)
    assert task_states(first) == dict.fromkeys(
        ["extract", "transform", "load", "verify", "promote"], "success"
    )
    assert crm_customers(crm) == source_customers(src)
    assert crm.admin.stats()["requests"] == {"/v1/customers/batch": 4}

    execute(
        src,
        "UPDATE public.customers SET tier = 7, updated_at = now() WHERE id IN (10, 11)",
        "UPDATE public.customers SET deleted_at = now(), updated_at = now() WHERE id = 12",
    )
    crm.admin.fault("429", count=1, path="/v1/customers/batch", retry_after="0")
    second = run_flow(monkeypatch, flows)
    assert task_states(second)["promote"] == "success"
    assert crm_customers(crm) == source_customers(src)
    audit = rows(
        dst,
        "SELECT rows_pushed, rows_updated, rows_deleted, rows_push_failed FROM syncgate.sync_runs WHERE run_id = %s",
        (second.run_id,),
    )
    assert audit == [(3, 2, 1, 0)]

    # A record the CRM refuses: the others still go, the run fails, the watermark stays.
    mark = rows(dst, "SELECT value, batch_id FROM syncgate.watermarks")
    execute(
        src,
        "UPDATE public.customers SET email = 'broken', updated_at = now() WHERE id = 20",
        "UPDATE public.customers SET name = 'Fine', updated_at = now() WHERE id = 21",
    )
    refused = run_flow(monkeypatch, flows)
    assert task_states(refused)["promote"] == "failed"
    assert crm_customers(crm)[21]["name"] == "Fine"
    assert rows(dst, "SELECT value, batch_id FROM syncgate.watermarks") == mark
    assert rows(
        dst,
        "SELECT status, rows_pushed, rows_push_failed FROM syncgate.sync_runs WHERE run_id = %s",
        (refused.run_id,),
    ) == [("failed", 1, 1)]
    assert rows(dst, "SELECT stage, reason FROM syncgate.rejected_records") == [
        ("push", "422: email must contain '@'")  # batch results carry no field name
    ]

    execute(src, "UPDATE public.customers SET email = 'fixed@example.com', updated_at = now() WHERE id = 20")
    recovered = run_flow(monkeypatch, flows)
    assert task_states(recovered)["promote"] == "success"
    assert crm_customers(crm) == source_customers(src)
    assert rows(dst, "SELECT rows_pushed FROM syncgate.sync_runs WHERE run_id = %s", (recovered.run_id,)) == [
        (1,)
    ]
    writes = crm.admin.writes()
    assert len({w["idempotency_key"] for w in writes}) == len(writes) == crm.admin.stats()["writes_applied"]

    # Neither the API token nor the state database's password leaks into logs, XCom or audit rows.
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "Pushed batch" in logs, "task logs were not captured: the checks below would prove nothing"
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcom = [x.value for x in session.query(XComModel).filter(XComModel.dag_id == "e2e_crm").all()]
    audit_rows = json.dumps(rows(dst, "SELECT row_to_json(r) FROM syncgate.sync_runs r"), default=str)
    rejected = json.dumps(rows(dst, "SELECT row_to_json(r) FROM syncgate.rejected_records r"), default=str)
    for secret in (crm.token, databases["secret"]):
        assert secret not in logs
        assert secret not in json.dumps(xcom, default=str)
        assert secret not in audit_rows and secret not in rejected
