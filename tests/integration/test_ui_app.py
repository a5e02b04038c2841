"""The UI app over HTTP (auth satisfied by a dependency override), on seeded PostgreSQL state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ui_seed import PII_EMAIL, mounted, prepare_ui_state

from syncgate.report.paths import report_files, report_url
from syncgate.ui import files
from syncgate.ui.auth import Viewer

pytestmark = pytest.mark.integration


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return prepare_ui_state(databases, tmp_path, monkeypatch)


RUN_ID = "manual__2026-11-26T12:00:00+00:00"


@pytest.fixture
def client(ui_state: dict[str, str]) -> TestClient:
    return TestClient(mounted())


def _row(html: str, flow_id: str) -> str:
    match = re.search(rf'<tr id="flow-{flow_id}".*?</tr>', html, re.S)
    assert match, f"no row for {flow_id}"
    return match.group(0)


def test_health_page_lists_flows_with_status_freshness_and_incidents(client: TestClient) -> None:
    page = client.get("/syncgate/")
    assert page.status_code == 200
    assert "script" not in page.headers["content-security-policy"]
    ok, late, breach = (_row(page.text, f) for f in ("orders_ok", "customers_late", "products_breach"))
    assert "status-success" in ok and "fresh-green" in ok and "<svg" in ok and ">3</td>" in ok
    assert "status-failed" in late and "fresh-amber" in late and "customers data is 1h 15m old" in late
    assert "an old resolved failure" not in page.text
    assert "fresh-red" in breach and "products data is 2h 30m old (SLA 2h)" in breach
    assert "state database &#39;gone_db&#39; is unreachable" in _row(page.text, "remote_down")
    assert "pending first sync" in _row(page.text, "never_run")


def test_tag_filter_and_json(client: TestClient) -> None:
    page = client.get("/syncgate/", params={"tag": "catalog"})
    assert 'id="flow-products_breach"' in page.text and 'id="flow-never_run"' in page.text
    assert 'id="flow-orders_ok"' not in page.text
    data = client.get("/syncgate/api/health.json", params={"tag": "erp"}).json()
    assert data["tags"] == ["catalog", "erp", "finance", "remote"]
    assert [f["flow_id"] for f in data["flows"]] == ["customers_late", "orders_ok"]
    late = data["flows"][0]
    assert (late["status"], late["freshness"], late["freshness_colour"]) == ("failed", "warn", "amber")
    assert late["incidents"][0]["kind"] == "freshness" and late["last_success"].endswith("+00:00")


def test_flow_detail_pages_history_and_masks_pii_in_rejected_records(client: TestClient) -> None:
    first = client.get("/syncgate/flows/orders_ok")
    assert first.status_code == 200
    assert first.text.count("<tr data-run=") == 25 and "page 1 of 2 (30 in all)" in first.text
    assert "scheduled__run_30" in first.text and "scheduled__run_05" not in first.text
    second = client.get("/syncgate/flows/orders_ok", params={"page": 2})
    assert second.text.count("<tr data-run=") == 5 and "scheduled__run_01" in second.text

    late = client.get("/syncgate/flows/customers_late", params={"rpage": 2})
    assert "updated_at: not a timestamp" in late.text and "page 2 of 2 (30 in all)" in late.text
    assert PII_EMAIL not in late.text and "••• (pii)" in late.text and "Customer 26" in late.text
    assert "two-way sync" in late.text and 'id="conflicts-empty"' in late.text
    assert client.get("/syncgate/flows/orders_ok", params={"page": 0}).status_code == 422


def test_run_reports_are_served_and_missing_ones_explained(client: TestClient) -> None:
    json_file, html_file = report_files("customers_late", RUN_ID)
    html_file.parent.mkdir(parents=True)
    html_file.write_text("<html><body><h1>Run report</h1></body></html>")
    json_file.write_text(json.dumps({"run_id": RUN_ID}))
    assert report_url("customers_late", RUN_ID).startswith("/syncgate/flows/customers_late/runs/manual__")

    detail = client.get("/syncgate/flows/customers_late")
    assert (
        detail.text.count('class="run-report"') == 1 and report_url("customers_late", RUN_ID) in detail.text
    )
    page = client.get(report_url("customers_late", RUN_ID))
    assert page.status_code == 200 and "<h1>Run report</h1>" in page.text
    assert client.get(report_url("customers_late", RUN_ID) + ".json").json() == {"run_id": RUN_ID}

    missing = client.get(report_url("orders_ok", "scheduled__run_30"))
    assert missing.status_code == 404 and "No run report for run &#39;scheduled__run_30&#39;" in missing.text
    assert client.get(report_url("orders_ok", "scheduled__run_30") + ".json").status_code == 404


def test_data_docs_are_served_from_the_flow_folder_only(client: TestClient, ui_state: dict[str, str]) -> None:
    assert "no quality report yet" in client.get("/syncgate/flows/orders_ok/docs/index.html").text
    site = files.data_docs_root("orders_ok")
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<html>GX index</html>")
    (site / "validations" / "v.html").write_text("<html>one validation</html>")
    secret = site.parents[3] / "secret.txt"  # the flow's report folder, outside the site
    secret.write_text("not for the browser")

    assert (
        client.get("/syncgate/flows/orders_ok/docs/", follow_redirects=True).text == "<html>GX index</html>"
    )
    assert (
        client.get("/syncgate/flows/orders_ok/docs/validations/v.html").text == "<html>one validation</html>"
    )
    assert 'id="docs-link"' in client.get("/syncgate/flows/orders_ok").text
    for attempt in (
        "../../../../secret.txt",
        "..%2F..%2F..%2F..%2Fsecret.txt",
        "%2E%2E/%2E%2E/x",
        "validations",
    ):
        response = client.get(f"/syncgate/flows/orders_ok/docs/{attempt}")
        assert response.status_code == 404 and "not for the browser" not in response.text


def test_read_only_and_permission_checked(ui_state: dict[str, str]) -> None:
    client = TestClient(mounted(Viewer("ops", lambda ids: ids & {"orders_ok"})))
    page = client.get("/syncgate/")
    assert 'id="flow-orders_ok"' in page.text and 'id="flow-customers_late"' not in page.text
    assert client.get("/syncgate/flows/customers_late").status_code == 404
    assert client.get("/syncgate/flows/customers_late/docs/index.html").status_code == 404
    assert client.post("/syncgate/").status_code == 405
    assert client.delete("/syncgate/flows/orders_ok").status_code == 405


def test_unknown_flow_is_a_clear_404_and_an_unreachable_one_says_why(client: TestClient) -> None:
    page = client.get("/syncgate/flows/nope")
    assert page.status_code == 404 and "There is no flow &#39;nope&#39; you may read." in page.text
    down = client.get("/syncgate/flows/remote_down")
    assert down.status_code == 200 and "state database &#39;gone_db&#39; is unreachable" in down.text
    assert 'id="flow-status">unknown<' in down.text


def test_without_airflow_auth_every_route_is_refused(ui_state: dict[str, str]) -> None:
    from fastapi import FastAPI

    from syncgate.ui.app import create_app

    root = FastAPI()
    root.mount("/syncgate", create_app())  # no override: Airflow's auth, and no Airflow around
    client = TestClient(root)
    for path in ("/syncgate/", "/syncgate/api/health.json", "/syncgate/flows/orders_ok"):
        response = client.get(path)
        assert response.status_code in (401, 503) and "orders_ok" not in response.text
