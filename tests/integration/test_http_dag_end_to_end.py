"""One HTTP flow through the real DAG with Airflow's ``dag.test()``: CRM on loopback -> PostgreSQL."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import flows_dag_bag, rows, task_states
from http_helpers import connect_crm
from test_dag_end_to_end import xcoms

pytestmark = pytest.mark.integration


SPEC = """
id: e2e_crm_customers
description: CRM customers over HTTP, end to end.
retries: 0
source:
  type: http
  conn_id: crm_api
  endpoint: /v2/customers
  records: data
  primary_key: [id]
  cursor: updated_at
  cursor_param: updated_since
  columns: [id, name, email, status, tier, city, updated_at]
  fields:
    city: address.city
    updated_at: {path: updated_at, type: timestamptz}
  max_requests_per_second: 50
  pagination: {style: token, token_path: meta.next, token_param: cursor, size_param: limit, size: 100}
target:
  type: postgres
  conn_id: dst_db
  table: crm.customers
transform:
  hash: [email]
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {column: status, value_set: [active, inactive, lead]}
"""


def test_an_http_flow_runs_as_a_dag(
    crm: Any,
    databases: dict[str, str],
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    dst = databases["dst"]
    connect_crm(monkeypatch, crm)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "e2e_crm_customers.yml").write_text(textwrap.dedent(SPEC))
    dag = flows_dag_bag(monkeypatch, flows).dags["e2e_crm_customers"]
    assert dag.get_task("extract").pool == "syncgate_crm_api"  # flows of one API share its pool
    assert {t.pool for t in dag.tasks if t.task_id != "extract"} == {"default_pool"}

    first = dag.test()
    assert task_states(first) == dict.fromkeys(
        ["extract", "transform", "load", "verify", "promote"], "success"
    )
    source = {r["id"]: r for r in crm.admin.records("customers")}
    target = rows(dst, "SELECT id, name, city, email FROM crm.customers ORDER BY id")
    assert [(i, n, c) for i, n, c, _ in target] == [
        (i, source[i]["name"], source[i]["address"]["city"]) for i in sorted(source)
    ]
    assert all(e is None or len(e) == 64 for *_, e in target)  # PII hashed before landing

    crm.admin.touch("customers", ids=[1, 2])
    second = dag.test()
    assert task_states(second)["promote"] == "success"
    audit = rows(
        dst,
        "SELECT rows_extracted, rows_updated, bytes_wire, bytes_decoded FROM syncgate.sync_runs "
        "WHERE run_id = %s",
        (second.run_id,),
    )
    extracted, updated, wire, decoded = audit[0]
    assert (extracted, updated) == (3, 2) and 0 < wire <= decoded  # small bodies are not compressed
    big = rows(
        dst, "SELECT bytes_wire, bytes_decoded FROM syncgate.sync_runs WHERE run_id = %s", (first.run_id,)
    )
    assert 0 < big[0][0] < big[0][1] / 3

    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "Extracted 250 rows" in logs, "task logs were not captured: the check below would prove nothing"
    assert crm.token not in logs
    assert crm.token not in json.dumps(xcoms("e2e_crm_customers"), default=str)
    assert crm.token not in json.dumps(
        rows(dst, "SELECT row_to_json(r) FROM syncgate.sync_runs r"), default=str
    )
