"""Run reports through the real DAG (``dag.test()``): PII never reaches reports, Data Docs, XCom,
audit rows or logs; a failure outside the gate gets its report from the failure callback; the
"Sync report" extra link resolves through Airflow's public REST API for verify and promote only."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from helpers import execute, flows_dag_bag, rows, seed_orders, task_states
from test_dag_end_to_end import xcoms

from syncgate.report.paths import report_files, report_url

pytestmark = pytest.mark.integration

PEOPLE_SPEC = """
id: pii_people
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.people
  primary_key: [id]
  cursor: updated_at
target:
  type: postgres
  conn_id: dst_db
  table: analytics.people
transform:
  rename: {mail: email}
  hash: [phone]
pii: [email]
quality:
  sample_unexpected_values: 5
  expectations:
    - type: expect_column_values_to_match_regex
      kwargs: {column: email, regex: "^nobody@"}
    - type: expect_column_value_lengths_to_equal
      kwargs: {column: phone, value: 3}
    - type: expect_column_values_to_be_in_set
      kwargs: {column: city, value_set: [Paris]}
"""

ORDERS_SPEC = """
id: report_orders
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


def write_flow(tmp_path: Path, name: str, text: str) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / f"{name}.yml").write_text(textwrap.dedent(text))
    return flows


def api_links(dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """The task's extra links as Airflow's public REST API serves them to the UI."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core")) as client:
        response = client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
        )
    assert response.status_code == 200, response.text
    links: dict[str, Any] = response.json()["extra_links"]
    return links


@pytest.fixture
def open_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simple auth manager lets every request in as admin: no login dance in tests.
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")


def test_pii_values_reach_no_report_docs_xcom_audit_or_log(
    databases: dict[str, str],
    airflow_db: Path,
    open_api: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import pyarrow as pa

    from syncgate.hashing import keyed_hash

    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.people (id bigint PRIMARY KEY, mail text, phone text, city text, "
        "updated_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO public.people (id, mail, phone, city) SELECT g, 'leak.person.' || g || '@pii.example', "
        "'+44 7700 9' || lpad(g::text, 5, '0'), 'Zzyzx' || g FROM generate_series(1, 12) g",
    )
    clear = [f"leak.person.{n}@pii.example" for n in range(1, 13)]
    phones = [f"+44 7700 9{n:05d}" for n in range(1, 13)]
    digests = keyed_hash(pa.chunked_array([phones]), b"test-key").to_pylist()

    dag_run = run_flow_of(monkeypatch, write_flow(tmp_path, "pii_people", PEOPLE_SPEC), "pii_people")
    assert task_states(dag_run)["verify"] == "failed"

    report = json.loads(report_files("pii_people", dag_run.run_id)[0].read_text())
    by_column = {e["columns"][0]: e for e in report["quality"]["expectations"] if e["columns"]}
    assert by_column["email"]["success"] is False and by_column["email"]["unexpected_count"] == 12
    assert by_column["phone"]["pii"] and by_column["email"]["pii"]  # hashed columns are PII too
    assert "unexpected_sample" not in by_column["email"] and "unexpected_sample" not in by_column["phone"]
    city_sample = by_column["city"]["unexpected_sample"]
    assert len(city_sample) == 5 and all(v.startswith("Zzyzx") for v in city_sample)

    def leaks(text: str) -> list[str]:
        return [v for v in (*clear, *phones, *digests) if v in text] + (
            ["@pii.example"] * ("@pii.example" in text)
        )

    reports = tmp_path / "reports"
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any("validations" in p.parts and p.suffix == ".html" for p in files), "no Data Docs page written"
    for path in files:
        assert leaks(path.read_text(errors="replace")) == [], f"PII in {path}"
    docs_text = "".join(p.read_text(errors="replace") for p in files if "gx" in p.parts)
    assert city_sample[0] in docs_text, (
        "non-PII samples must still reach the Data Docs (else this proves nothing)"
    )
    assert leaks(json.dumps(xcoms("pii_people"), default=str)) == []
    audit_rows = json.dumps(
        rows(dst, "SELECT row_to_json(r) FROM syncgate.sync_runs r WHERE flow_id = 'pii_people'"),
        default=str,
    )
    assert '"rejected"' in audit_rows and leaks(audit_rows) == []
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "Quality gate rejected" in logs, "task logs were not captured"
    assert leaks(logs) == []

    # The failed verify still carries its link; the extract task has none.
    expected = report_url("pii_people", dag_run.run_id)
    assert api_links("pii_people", dag_run.run_id, "verify") == {"Sync report": expected}
    assert api_links("pii_people", dag_run.run_id, "extract") == {}


def test_a_failed_promote_gets_its_report_from_the_callback_and_both_links_resolve(
    databases: dict[str, str],
    airflow_db: Path,
    open_api: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 40)
    # The target lacks a column the flow delivers: promote fails after the gate passed.
    execute(
        dst,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.orders (id bigint PRIMARY KEY, status text, amount numeric, updated_at timestamptz)",
    )
    flows = write_flow(tmp_path, "report_orders", ORDERS_SPEC)
    failed = run_flow_of(monkeypatch, flows, "report_orders")
    assert task_states(failed)["promote"] == "failed"

    report = json.loads(report_files("report_orders", failed.run_id)[0].read_text())
    assert report["status"] == "failed"
    assert (
        report["error"].startswith("promote: AirflowFailException")
        and "has no column(s) note" in report["error"]
    )
    assert report["rows"]["extracted"] == 40 and report["rows"]["inserted"] is None
    assert report["quality"]["verdict"] == "passed" and len(report["quality"]["expectations"]) == 3
    assert report["fields_dropped"]["not_selected"] == ["order"]
    assert report["bytes"]["uncompressed"] > 0 and report["durations"]["verify"] > 0
    assert api_links("report_orders", failed.run_id, "promote") == {
        "Sync report": report_url("report_orders", failed.run_id)
    }

    execute(dst, "ALTER TABLE analytics.orders ADD COLUMN note text")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team/")
    fixed = run_flow_of(monkeypatch, flows, "report_orders")
    assert task_states(fixed)["promote"] == "success"
    report = json.loads(report_files("report_orders", fixed.run_id)[0].read_text())
    assert report["status"] == "success" and report["rows"]["inserted"] == 40 and report["error"] is None
    absolute = "https://airflow.example.com/team" + report_url("report_orders", fixed.run_id)
    for task_id in ("verify", "promote"):
        assert api_links("report_orders", fixed.run_id, task_id) == {"Sync report": absolute}
    assert api_links("report_orders", fixed.run_id, "load") == {}


def test_a_run_failing_before_its_audit_row_still_gets_a_report(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No source table: extract fails before it opens the run's audit row.
    failed = run_flow_of(monkeypatch, write_flow(tmp_path, "report_orders", ORDERS_SPEC), "report_orders")
    assert task_states(failed)["extract"] == "failed"
    # The callback records the run as failed even though extract never wrote its audit row.
    assert rows(databases["dst"], "SELECT status FROM syncgate.sync_runs") == [("failed",)]
    json_path, html_path = report_files("report_orders", failed.run_id)
    report = json.loads(json_path.read_text())
    assert report["status"] == "failed" and report["batch_id"] is None
    assert report["error"].startswith("extract: AirflowFailException") and "does not exist" in report["error"]
    assert report["rows"]["extracted"] is None and report["quality"]["verdict"] is None
    assert "public.orders does not exist" in html_path.read_text()


def run_flow_of(monkeypatch: pytest.MonkeyPatch, flows: Path, dag_id: str) -> Any:
    return flows_dag_bag(monkeypatch, flows).dags[dag_id].test()
