"""The plugin inside a real ``airflow api-server``: mounted under /syncgate, behind Airflow's auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import airflow_api
import httpx
import pytest
from airflow_api import PASSWORD
from ui_seed import chromium, prepare_ui_state, shot

pytestmark = pytest.mark.integration


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return prepare_ui_state(databases, tmp_path, monkeypatch)


@pytest.fixture
def api_server(ui_state: dict[str, str], airflow_db: Path, tmp_path: Path) -> Iterator[str]:
    with airflow_api.api_server(tmp_path) as base:
        yield base


def test_plugin_in_a_real_api_server(api_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One server start for both checks: it costs ~20 s."""
    _pages_mount_under_airflow_and_refuse_anonymous_requests(api_server)
    _views_render_inside_the_airflow_ui(api_server, monkeypatch)


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
