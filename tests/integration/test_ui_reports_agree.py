"""The pages agree with each other and with the audit trail (issue 14, "reports that disagree").

- A batch the quality gate held back and records refused one by one have different names.
- The health page lists problems first.
- A flow without a freshness SLA shows its data age as a fact, not as a grey lag.
- The Sync flow tab, the health page and a run report fit a ~437 px wide panel (Airflow's graph
  view gives a DAG's tabs about 30 % of the page) without scrolling sideways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from ui_seed import chromium, mounted, prepare_ui_state, served_app, shot

from syncgate.report.build import build_report
from syncgate.report.paths import report_files, report_url
from syncgate.report.render import render_html

pytestmark = pytest.mark.integration

HELD_RUN = "scheduled__2026-12-06T08:00:00+00:00"
# orders_ok's newest run: the gate held back its 1,359 rows. customers_late's failed run
# refused 30 records at extract (they are in syncgate.rejected_records) and 2 at push.
EXTRA = f"""
INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, rows_extracted, quality_verdict,
    error, started_at, finished_at)
VALUES ('orders_ok', '{HELD_RUN}', 'scheduled', 'rejected', 1359, 'failed', 'quality gate failed',
        now() - interval '10 minutes', now() - interval '9 minutes');
UPDATE syncgate.sync_runs SET rows_rejected = 30, rows_push_failed = 2
WHERE flow_id = 'customers_late' AND status = 'failed';
-- never_run has no SLA; give it a run whose newest row was 340 days old.
INSERT INTO syncgate.sync_runs (flow_id, run_id, status, rows_extracted, rows_inserted, lag_seconds,
    started_at, finished_at)
VALUES ('never_run', 'scheduled__static', 'success', 3, 3, 340 * 86400,
        now() - interval '2 hours', now() - interval '2 hours');
"""


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    state = prepare_ui_state(databases, tmp_path, monkeypatch)
    with psycopg.connect(state["dst"]) as conn:
        conn.execute(EXTRA)
    return state


@pytest.fixture
def client(ui_state: dict[str, str]) -> TestClient:
    return TestClient(mounted())


def _history_row(html: str, run_id: str) -> str:
    match = re.search(rf'<tr data-run="{re.escape(run_id)}">.*?</tr>', html, re.S)
    assert match, f"no history row for {run_id}"
    return match.group(0)


def test_a_batch_held_by_the_gate_and_refused_records_are_named_apart(client: TestClient) -> None:
    page = client.get("/syncgate/flows/orders_ok").text
    assert "Held by gate" in page and ">Refused<" in page
    held = _history_row(page, HELD_RUN)
    assert '<td class="num held">1,359</td>' in held and '<td class="num refused">–</td>' in held
    assert "Records refused" in page and 'id="refused-none"' in page
    # The word that meant both is gone from headings and columns.
    assert "Rejected records" not in page and ">Rejected<" not in page

    late = client.get("/syncgate/flows/customers_late").text
    failed = _history_row(late, "manual__2026-11-26T12:00:00+00:00")
    assert '<td class="num refused">32</td>' in failed and '<td class="num held">–</td>' in failed
    assert 'id="rejected-records"' in late and "updated_at: not a timestamp" in late


def test_the_health_page_lists_problems_first(client: TestClient) -> None:
    page = client.get("/syncgate/").text
    shown = re.findall(r'<tr id="flow-[^"]+" data-flow="([^"]+)" data-attention="([^"]+)"', page)
    assert shown == [
        ("customers_late", "failing"),
        ("remote_down", "failing"),  # its state database cannot be read
        ("orders_ok", "rejected"),
        ("products_breach", "late"),
        ("never_run", "ok"),
    ]
    assert "<strong>4</strong> of 5 flow(s) need attention" in page
    listed = client.get("/syncgate/api/health.json").json()["flows"]
    assert [f["flow_id"] for f in listed] == [flow for flow, _ in shown]


def test_a_flow_without_an_sla_shows_its_data_age_neutrally(client: TestClient) -> None:
    page = client.get("/syncgate/").text
    row = re.search(r'<tr id="flow-never_run".*?</tr>', page, re.S)
    assert row
    freshness = " ".join(row.group(0).split('class="freshness"')[1].split("</td>")[0].split())
    assert "no SLA" in freshness and "newest row 340d 00h old" in freshness
    assert "lag 340d" not in freshness and "fresh-grey" not in freshness
    detail = client.get("/syncgate/flows/never_run").text
    facts = " ".join(detail.split('id="flow-freshness"')[1].split("</dd>")[0].split())
    assert "no SLA" in facts and "newest row 340d 00h old" in facts and "lag" not in facts


@pytest.fixture
def served(ui_state: dict[str, str]) -> Iterator[str]:
    """The app on loopback, with a real report (long values included) for the held run."""
    audit = {
        "status": "rejected", "rows_extracted": 1359, "watermark_before": "2026-12-05 23:59:59.999999+00",
        "window_from": "2026-12-05 23:59:59.999999+00", "error": "quality gate failed",
    }  # fmt: skip
    manifest = {"watermark_after": "2026-12-06 07:59:58.123456+00", "fields_unselected": ["x" * 80]}
    quality = {"success": False, "results": [{
        "type": "expect_column_values_to_match_strftime_format", "success": False, "unexpected_count": 7,
        "kwargs": {"column": "a_rather_long_column_name_for_a_timestamp", "strftime_format": "%Y-%m-%dT%H:%M:%S%z"},
        "partial_unexpected_list": ["2026-13-45T99:99:99", "yesterday-ish, probably", "n/a"],
    }]}  # fmt: skip
    json_file, html_file = report_files("orders_ok", HELD_RUN)
    html_file.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(
        flow_id="orders_ok", run_id=HELD_RUN, audit=audit, manifest=manifest, quality=quality
    )
    html_file.write_text(render_html(report))
    json_file.write_text("{}")
    with served_app() as base:
        yield base


PANEL = 437  # the width Airflow 3.3's graph view left the Sync flow tab on a 1,440 px screen
OVERFLOW = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_the_pages_fit_a_narrow_airflow_panel(served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By

    with chromium(monkeypatch) as driver:
        driver.set_window_size(PANEL, 900)
        assert driver.execute_script("return window.innerWidth") == PANEL
        pages = {
            "flow-orders_ok": "/syncgate/flows/orders_ok",
            "flow-customers_late": "/syncgate/flows/customers_late",
            "health": "/syncgate/",
            "run-report": report_url("orders_ok", HELD_RUN),
        }
        for name, path in pages.items():
            driver.get(served + path)
            shot(driver, f"narrow-{name}")
            assert driver.execute_script(OVERFLOW) <= 0, f"{path} scrolls sideways at {PANEL} px"

        # What matters most stays in view; the secondary columns make room.
        driver.get(f"{served}/syncgate/flows/orders_ok")
        headers = {
            th.get_attribute("textContent"): th.is_displayed()
            for th in driver.find_elements(By.CSS_SELECTOR, "#runs th")
        }
        assert all(headers[h] for h in ("Run", "Status", "Held by gate", "Refused", "Report"))
        assert not headers["Started"] and not headers["Lag"]
        box = driver.find_element(By.CSS_SELECTOR, "#runs").find_element(By.XPATH, "..").rect
        last = driver.find_elements(By.CSS_SELECTOR, "#runs th")[-1]
        assert last.text == "Report" and last.rect["x"] + last.rect["width"] <= box["x"] + box["width"] + 1
        driver.execute_script("document.getElementById('history').scrollIntoView()")
        shot(driver, "narrow-flow-orders_ok-history")
        full = driver.find_element(By.CSS_SELECTOR, "#full-width a")
        assert full.get_attribute("target") == "_blank" and full.get_attribute("href").endswith(
            "/flows/orders_ok"
        )

        driver.get(served + report_url("orders_ok", HELD_RUN))
        assert (
            "unchanged at 2026-12-05 23:59:59.999999+00" in driver.find_element(By.ID, "watermark-after").text
        )
        assert driver.find_element(By.ID, "rows-held_by_gate").text.endswith("1,359")

        driver.set_window_size(1400, 900)  # full width: every column is back
        driver.get(f"{served}/syncgate/flows/orders_ok")
        assert all(th.is_displayed() for th in driver.find_elements(By.CSS_SELECTOR, "#runs th"))
        _no_overflow(driver)


def _no_overflow(driver: Any) -> None:
    assert driver.execute_script(OVERFLOW) <= 0
