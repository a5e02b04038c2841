"""The plugin inside a real ``airflow api-server``: mounted under /syncgate, behind Airflow's auth."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import airflow_api
import httpx
import pytest
from airflow_api import PASSWORD
from ui_seed import chromium, prepare_ui_state, shot

from syncgate.report.build import build_report
from syncgate.report.paths import report_files
from syncgate.report.render import render_html

pytestmark = pytest.mark.integration


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return prepare_ui_state(databases, tmp_path, monkeypatch)


@pytest.fixture
def api_server(ui_state: dict[str, str], airflow_db: Path, tmp_path: Path) -> Iterator[str]:
    # The seeded flows' DAGs in Airflow's database, so their DAG and run pages (and tabs) exist.
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"],
        check=True, capture_output=True, env=os.environ.copy(),
    )  # fmt: skip
    with airflow_api.api_server(tmp_path) as base:
        yield base


def test_plugin_in_a_real_api_server(api_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One server start for every check: it costs ~20 s."""
    _pages_mount_under_airflow_and_refuse_anonymous_requests(api_server)
    _views_render_inside_the_airflow_ui(api_server, monkeypatch)
    _tabs_on_the_dag_and_run_pages_fit_their_panel(api_server, monkeypatch)


def _pages_mount_under_airflow_and_refuse_anonymous_requests(api_server: str) -> None:
    with httpx.Client(base_url=api_server, timeout=30) as client:
        for path in ("/syncgate/", "/syncgate/api/health.json", "/syncgate/flows/orders_ok",
                     "/syncgate/flows/orders_ok/docs/index.html"):  # fmt: skip
            anonymous = client.get(path)
            assert anonymous.status_code == 401, path
            assert "orders_ok" not in anonymous.text
        assert client.get("/syncgate/", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403

        login = client.post("/auth/token", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 201, login.text
        token = login.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        health = client.get("/syncgate/api/health.json", headers=bearer)
        assert health.status_code == 200
        flows = {f["flow_id"]: f for f in health.json()["flows"]}
        assert flows["customers_late"]["freshness_colour"] == "amber"
        assert flows["orders_ok"]["status"] == "success"

        # The Airflow UI renders the views in an iframe that carries the session cookie.
        page = client.get("/syncgate/flows/customers_late", cookies={"_token": token})
        assert page.status_code == 200 and "customers data is 1h 15m old" in page.text
        assert 'href="/syncgate/?tag=erp"' in page.text  # links keep the /syncgate mount prefix
        assert 'href="/dags/customers_late" target="_top"' in page.text  # and reach Airflow's own pages

        plugins = client.get("/api/v2/plugins", headers=bearer).json()["plugins"]
        (plugin,) = [p for p in plugins if p["name"] == "syncgate_ui"]
        assert plugin["fastapi_apps"][0] == {
            "app": "syncgate.ui.asgi.LazyUiApp",
            "url_prefix": "/syncgate",
            "name": "syncgate UI",
        }
        views = {v["url_route"]: v for v in plugin["external_views"]}
        assert (
            views["syncgate-health"]["href"] == "syncgate/"
            and views["syncgate-health"]["destination"] == "nav"
        )
        assert views["syncgate-flow"]["href"] == "syncgate/flows/{DAG_ID}"
        # Every DAG run has a "Sync report" tab: the run's report, not only the tasks' extra link.
        assert views["syncgate-report"]["href"] == "syncgate/flows/{DAG_ID}/runs/{RUN_ID}/report"
        assert views["syncgate-report"]["destination"] == "dag_run"
        assert client.post("/syncgate/", headers=bearer).status_code == 405


def _views_render_inside_the_airflow_ui(api_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    token = httpx.post(f"{api_server}/auth/token", json={"username": "admin", "password": PASSWORD}).json()
    with chromium(monkeypatch) as driver:
        driver.get(f"{api_server}/plugin/syncgate-health")  # anonymous: Airflow's UI, not our data
        assert "customers_late" not in driver.page_source
        # Signed in as the UI's login does it: the session cookie the iframe carries to /syncgate.
        driver.add_cookie({"name": "_token", "value": token["access_token"], "path": "/"})
        driver.get(f"{api_server}/plugin/syncgate-health")
        wait = WebDriverWait(driver, 60)
        frame = wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Sync health']"))
        )
        assert frame.get_attribute("src") == f"{api_server}/syncgate/"
        driver.switch_to.frame(frame)
        row = wait.until(expected_conditions.presence_of_element_located((By.ID, "flow-customers_late")))
        assert "fresh-amber" in row.find_element(By.CSS_SELECTOR, ".fresh").get_attribute("class")
        assert driver.find_element(By.CSS_SELECTOR, "header .who").text == "admin"
        driver.switch_to.default_content()
        shot(driver, "10-inside-airflow-ui")


OVERFLOW = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _tabs_on_the_dag_and_run_pages_fit_their_panel(api_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In graph view Airflow gives a DAG's tabs about 30 % of the page: ~420 px of 1400."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    token = httpx.post(f"{api_server}/auth/token", json={"username": "admin", "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    run_id = "manual__2026-12-06T10:00:00+00:00"
    created = httpx.post(
        f"{api_server}/api/v2/dags/orders_ok/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None},
        headers=bearer,
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text
    json_file, html_file = report_files("orders_ok", run_id)
    html_file.parent.mkdir(parents=True, exist_ok=True)
    audit = {"status": "rejected", "rows_extracted": 1359, "watermark_before": "2026-12-01 00:00:00+00"}
    html_file.write_text(render_html(build_report(flow_id="orders_ok", run_id=run_id, audit=audit)))
    json_file.write_text("{}")

    with chromium(monkeypatch) as driver:
        wait = WebDriverWait(driver, 60)
        driver.get(f"{api_server}/")
        driver.add_cookie({"name": "_token", "value": token["access_token"], "path": "/"})
        driver.execute_script("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")

        driver.get(f"{api_server}/dags/orders_ok/plugin/syncgate-flow")
        frame = wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Sync flow']"))
        )
        wait.until(lambda d: frame.size["width"] > 0)
        width = frame.size["width"]
        assert width < 520, f"the Sync flow tab is {width} px wide: not the narrow graph-view panel"
        driver.switch_to.frame(frame)
        wait.until(expected_conditions.presence_of_element_located((By.ID, "runs")))
        shot(driver, "11-sync-flow-tab-graph-view")
        assert driver.execute_script(OVERFLOW) <= 0, f"the Sync flow tab scrolls sideways at {width} px"
        held = driver.find_element(By.XPATH, "//table[@id='runs']//th[contains(., 'Held by gate')]")
        assert held.is_displayed()
        driver.switch_to.default_content()

        driver.get(f"{api_server}/dags/orders_ok/runs/{quote(run_id, safe='')}/plugin/syncgate-report")
        frame = wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Sync report']"))
        )
        assert frame.get_attribute("src") == (
            f"{api_server}/syncgate/flows/orders_ok/runs/{quote(run_id, safe='')}/report"
        )
        driver.switch_to.frame(frame)
        title = wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
        assert title.text.startswith("Sync report: orders_ok")
        assert "unchanged at 2026-12-01 00:00:00+00" in driver.find_element(By.ID, "watermark-after").text
        assert driver.execute_script(OVERFLOW) <= 0, "the run report scrolls sideways in the run panel"
        shot(driver, "12-sync-report-tab")
