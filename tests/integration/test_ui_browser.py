"""The UI pages in a real headless Chromium (Debian's chromium + chromedriver via selenium).

The app is served by uvicorn on loopback, mounted under /syncgate as Airflow mounts it, with
the auth dependency satisfied. One flow is synced for real (GX Data Docs, audit rows); the
others are seeded. Screenshots go to ``.syncgate/test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from helpers import execute, make_spec, new_run, seed_orders, sync
from ui_seed import chromium, mounted, prepare_ui_state, shot

from syncgate.report.paths import report_files

pytestmark = pytest.mark.integration


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return prepare_ui_state(databases, tmp_path, monkeypatch)


ORDERS_FLOW_YAML = {
    "id": "orders_flow",
    "description": "Orders synced for real in this test",
    "tags": ["erp", "live"],
    "retries": 0,
    "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"],
               "cursor": "updated_at", "deletes": "hard"},
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "analytics.orders", "write": "merge"},
    "transform": {"map_values": {"status": {"P": "pending", "S": "shipped", "X": "cancelled"}}},
    "quality": {"expectations": [{"type": "expect_column_values_to_be_in_set",
                                  "kwargs": {"column": "status", "value_set": ["pending", "shipped", "cancelled"]}}]},
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_ui(ui_state: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The seeded flows plus ``orders_flow`` synced twice for real; the UI served by uvicorn."""
    seed_orders(ui_state["src"], 200)
    first = sync(make_spec(retries=0))
    execute(ui_state["src"], "UPDATE public.orders SET status = 'S', updated_at = now() WHERE id <= 20")
    second = sync(make_spec(retries=0), new_run(make_spec(), run_id="manual__2026-11-26T16:00:00+00:00"))
    (Path(ui_state["flows"]) / "orders_flow.yml").write_text(json.dumps(ORDERS_FLOW_YAML))
    # The run-report helper writes these at the end of a run; stand in for it with a small page.
    json_file, html_file = report_files("orders_flow", second["run"].run_id)
    html_file.parent.mkdir(parents=True, exist_ok=True)
    html_file.write_text(
        "<!doctype html><title>Run report</title><h1 id='run-report'>Run report: orders_flow</h1>"
        f"<p>run {second['run'].run_id}: 20 rows updated</p>"
    )
    json_file.write_text(json.dumps({"run_id": second["run"].run_id}))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(mounted(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", first["run"].run_id
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with chromium(monkeypatch) as driver:
        yield driver


def test_pages_in_a_real_browser(live_ui: tuple[str, str], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, first_run = live_ui
    driver = browser

    # Sync health: every flow, its status, freshness colour, incidents.
    driver.get(f"{base}/syncgate/")
    shot(driver, "01-health")
    assert driver.title == "Sync health · syncgate"
    rows = {
        r.get_attribute("data-flow"): r for r in driver.find_elements(By.CSS_SELECTOR, "#health tbody tr")
    }
    assert set(rows) == {
        "customers_late",
        "never_run",
        "orders_flow",
        "orders_ok",
        "products_breach",
        "remote_down",
    }
    assert rows["orders_flow"].find_element(By.CSS_SELECTOR, ".badge").text == "success"
    colours = {f: r.find_element(By.CSS_SELECTOR, ".fresh").get_attribute("class") for f, r in rows.items()}
    assert "fresh-green" in colours["orders_ok"] and "fresh-amber" in colours["customers_late"]
    assert "fresh-red" in colours["products_breach"] and "fresh-none" in colours["never_run"]  # no SLA
    red = (
        rows["products_breach"]
        .find_element(By.CSS_SELECTOR, ".fresh")
        .value_of_css_property("background-color")
    )
    assert red in ("rgba(207, 34, 46, 1)", "rgb(207, 34, 46)")  # the stylesheet applied, no CDN needed
    assert "customers data is 1h 15m old" in rows["customers_late"].text
    assert rows["orders_ok"].find_elements(By.CSS_SELECTOR, "svg.spark polyline")
    assert "unreachable" in rows["remote_down"].text

    # Filter by tag.
    driver.find_element(By.LINK_TEXT, "catalog").click()
    shown = [r.get_attribute("data-flow") for r in driver.find_elements(By.CSS_SELECTOR, "#health tbody tr")]
    assert shown == ["products_breach", "never_run"]  # problems first
    shot(driver, "02-health-tag-catalog")

    # Flow detail: paged history.
    driver.get(f"{base}/syncgate/flows/orders_ok")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 25
    shot(driver, "03-flow-orders_ok")
    driver.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    runs = [r.get_attribute("data-run") for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert runs == [f"scheduled__run_{g:02d}" for g in range(5, 0, -1)]
    assert "page 2 of 2" in driver.find_element(By.CSS_SELECTOR, ".pager").text

    # Rejected records without PII, and the parked-conflicts empty state.
    driver.get(f"{base}/syncgate/flows/customers_late")
    rejected = driver.find_element(By.ID, "rejected-records").text
    assert "updated_at: not a timestamp" in rejected and "example.com" not in driver.page_source
    assert "two-way sync" in driver.find_element(By.ID, "conflicts-empty").text
    shot(driver, "04-flow-customers_late")

    # The synced flow: a run report link and the GX Data Docs.
    driver.get(f"{base}/syncgate/flows/orders_flow")
    runs = [r.get_attribute("data-run") for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert runs == ["manual__2026-11-26T16:00:00+00:00", first_run]
    shot(driver, "05-flow-orders_flow")
    driver.find_element(By.CSS_SELECTOR, "a.run-report").click()
    assert driver.find_element(By.ID, "run-report").text == "Run report: orders_flow"
    shot(driver, "06-run-report")

    driver.get(f"{base}/syncgate/flows/orders_flow")
    driver.find_element(By.ID, "docs-link").click()
    assert driver.current_url.endswith("/syncgate/flows/orders_flow/docs/index.html")
    assert "orders_flow" in driver.page_source and "Data Docs" in driver.title
    shot(driver, "07-data-docs")

    # A run's GX validation page, linked from its quality verdict and from the quality reports list.
    driver.get(f"{base}/syncgate/flows/orders_flow")
    listed = driver.find_elements(By.CSS_SELECTOR, "#validations tbody tr")
    assert [r.find_element(By.TAG_NAME, "code").text for r in listed] == [
        "manual__2026-11-26T16_00_00_00_00",  # GX's folder-safe form of the run id
        first_run,
    ]
    driver.find_element(By.LINK_TEXT, "passed").click()
    assert "/docs/validations/orders_flow/manual__2026-11-26T16_00_00_00_00/" in driver.current_url
    assert "Expectation Validation Result" in driver.page_source and "Succeeded" in driver.page_source
    shot(driver, "08-data-docs-validation")

    # A missing report explains itself.
    driver.get(f"{base}/syncgate/flows/orders_flow/runs/no_such_run/report")
    assert "No run report for run" in driver.find_element(By.ID, "missing").text
    shot(driver, "09-missing-report")
