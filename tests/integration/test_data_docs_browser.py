"""GX Data Docs render in a real Chromium with no network beyond loopback.

A flow is synced for real twice: a run whose expectations pass and one the gate rejects. GX
writes its pages as it always does (CDN URLs and all: exactly what is on disk from before the
UI rewrote them); the UI serves them through ``/syncgate/flows/<flow>/docs/...``. The browser
resolves no host but 127.0.0.1, so anything the pages still took from a CDN would be missing.
Screenshots go to ``.syncgate/test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import execute, new_run, seed_orders, sync
from ui_seed import chromium, prepare_ui_state, served_app, shot

from syncgate.errors import DataQualityError
from syncgate.spec.model import FlowSpec
from syncgate.ui import files

pytestmark = pytest.mark.integration

FLOW = {
    "id": "orders_flow",
    "retries": 0,
    "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"],
               "cursor": "updated_at", "deletes": "hard"},
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "analytics.orders", "write": "merge"},
    "transform": {"map_values": {"status": {"P": "pending", "S": "shipped", "X": "cancelled"}}},
    "quality": {"expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "status", "value_set": ["pending", "shipped", "cancelled"]}},
    ]},
}  # fmt: skip
LOOPBACK = "127.0.0.1"
# A reference to another host in a served page: an attribute URL or a CSS url() with a scheme
# or a protocol-relative //host.
EXTERNAL = re.compile(
    r"""(?:\s(?:src|href|srcset|action|poster)\s*=\s*["']?|url\(\s*["']?)\s*(?:[a-z]+:)?//""", re.I
)


@pytest.fixture
def docs_ui(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """orders_flow synced twice (passed, then rejected by the gate), the UI on loopback."""
    state = prepare_ui_state(databases, tmp_path, monkeypatch)
    (Path(state["flows"]) / "orders_flow.yml").write_text(json.dumps(FLOW))
    spec = FlowSpec.model_validate(FLOW)
    seed_orders(state["src"], 50)
    sync(spec, new_run(spec, run_id="manual__passed"))
    execute(state["src"], "UPDATE public.orders SET status = 'Q', updated_at = now() WHERE id IN (3, 4)")
    with pytest.raises(DataQualityError):
        sync(spec, new_run(spec, run_id="manual__rejected"))
    with served_app(LOOPBACK) as base:
        yield base


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with chromium(monkeypatch, logs=True) as driver:
        yield driver


def _pages() -> dict[str, str]:
    """run name -> the validation page of that run, relative to the site."""
    return {page.run_name: page.path for page in files.validation_pages("orders_flow")}


def _requested_hosts(driver: Any) -> set[str]:
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith("data:"):
                hosts.add(urlsplit(url).hostname or url)
    return hosts


def _problems(driver: Any) -> list[str]:
    """Console errors: scripts that failed or were refused, resources that did not load."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _icon(driver: Any, css: str) -> dict[str, Any]:
    """How the first Font Awesome icon matching ``css`` is drawn."""
    return dict(
        driver.execute_script(
            """
            const icon = document.querySelector(arguments[0]);
            const glyph = getComputedStyle(icon, '::before');
            return {content: glyph.content, family: glyph.fontFamily, width: icon.getBoundingClientRect().width,
                    loaded: document.fonts.check('900 16px "Font Awesome 6 Free"')};
            """,
            css,
        )
    )


def _wait(driver: Any, script: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := driver.execute_script(script)):
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.1)
    return value


def test_a_validation_page_renders_offline(docs_ui: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    page = _pages()["manual__rejected"]
    driver.get(f"{docs_ui}/syncgate/flows/orders_flow/docs/{page}")
    _wait(driver, "return document.readyState === 'complete' && document.fonts.status === 'loaded'")
    shot(driver, "20-data-docs-validation-offline")
    assert "Expectation Validation Result" in driver.page_source

    # Bootstrap applied: its navbar is a flex box, its primary buttons are blue.
    assert driver.find_element(By.CSS_SELECTOR, "nav.navbar").value_of_css_property("display") == "flex"
    button = driver.find_element(By.CSS_SELECTOR, "label.btn-primary:not(.active)")
    assert button.value_of_css_property("background-color") in ("rgba(0, 123, 255, 1)", "rgb(0, 123, 255)")

    # The status column: Font Awesome's glyphs, drawn with its font (not blank).
    for css in ("i.fa-check-circle", "i.fa-times"):
        icon = _icon(driver, css)
        assert icon["content"] not in ("", "none", "normal") and "Font Awesome" in icon["family"], icon
        assert icon["width"] > 0 and icon["loaded"], icon

    # GX's own scripts run: "Failed Only" hides the expectation that passed (an onclick handler).
    passed = driver.find_element(By.XPATH, "//td[contains(., 'values must never be null')]")
    assert passed.is_displayed()
    driver.find_element(By.XPATH, "//label[contains(., 'Failed Only')]").click()
    deadline = time.monotonic() + 10
    while passed.is_displayed():
        assert time.monotonic() < deadline, "Failed Only did not hide the passed expectation"
        time.sleep(0.1)

    assert _requested_hosts(driver) == {LOOPBACK}
    assert _problems(driver) == []

    # A script smuggled into a page (by a source value, say) gets no hash: it does not run.
    site = files.data_docs_root("orders_flow")
    copy = (site / page).with_name("smuggled.html")
    copy.write_text(
        (site / page)
        .read_text()
        .replace(
            "</body>",
            "<script>document.title = 'smuggled'</script>"
            "<img src='missing.png' onerror=\"document.title = 'smuggled'\"></body>",
        )
    )
    driver.get(f"{docs_ui}/syncgate/flows/orders_flow/docs/{copy.relative_to(site).as_posix()}")
    _wait(driver, "return document.readyState === 'complete'")
    time.sleep(0.5)
    assert driver.title == "Data documentation compiled by Great Expectations"  # not 'smuggled'
    refused = [m for m in _problems(driver) if "Content Security Policy" in m]
    assert len(refused) == 2, refused


def test_the_data_docs_index_lists_the_validations_offline(docs_ui: str, browser: Any) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{docs_ui}/syncgate/flows/orders_flow/docs/index.html")
    rows = "#Validation-Results table.ge-index-page-validation-results-table tbody tr[data-href]"
    _wait(driver, f"return document.querySelectorAll('{rows}').length >= 2")
    _wait(driver, "return document.fonts.status === 'loaded'")
    shot(driver, "21-data-docs-index-offline")

    # bootstrap-table may draw the rows again (filters, fonts): read them in one go.
    names = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(r => r.cells[2].textContent.trim())", rows
    )
    assert sorted(names) == ["manual__passed", "manual__rejected"]
    for css in ("i.ge-success-icon", "i.ge-failed-icon"):
        icon = _icon(driver, f"{rows} {css}")
        assert icon["width"] > 0 and icon["loaded"] and "Font Awesome" in icon["family"], icon
    assert driver.find_element(By.CSS_SELECTOR, ".nav-tabs").value_of_css_property("display") == "flex"

    # A row opens its validation page.
    row = (
        "//table[contains(@class, 'validation-results')]"
        "//tr[@data-href][td[3][normalize-space()='manual__rejected']]"
    )
    for attempt in range(3):
        try:
            driver.find_element(By.XPATH, row).click()
            break
        except StaleElementReferenceException:
            assert attempt < 2, "the row kept being redrawn"
    _wait(driver, "return location.pathname.includes('/validations/orders_flow/manual__rejected/')")

    assert _requested_hosts(driver) == {LOOPBACK}
    assert _problems(driver) == []


def test_every_page_of_the_site_runs_its_scripts_and_loads_from_loopback_only(
    docs_ui: str, browser: Any
) -> None:
    site = files.data_docs_root("orders_flow")
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert len(pages) >= 4  # the index, the suite, two validations
    for page in pages:
        browser.get(f"{docs_ui}/syncgate/flows/orders_flow/docs/{page}")
        _wait(browser, "return document.readyState === 'complete' && document.fonts.status === 'loaded'")
        assert browser.execute_script("return typeof jQuery.fn.bootstrapTable") == "function", page
        assert _problems(browser) == [], page  # a refused script or a missing file is logged here
        assert _requested_hosts(browser) == {LOOPBACK}, page

    # And as served, no page names another host (GX's pages on disk do).
    on_disk = (site / "index.html").read_text()
    assert EXTERNAL.search(on_disk), "GX's pages on disk name CDNs: the UI must rewrite them"
    with httpx.Client(base_url=docs_ui) as client:
        for page in pages:
            response = client.get(f"/syncgate/flows/orders_flow/docs/{page}")
            assert response.status_code == 200, page
            found = EXTERNAL.search(response.text)
            assert found is None, f"{page}: {response.text[found.start() - 80 : found.end() + 80]}"
            csp = response.headers["content-security-policy"]
            assert "'unsafe-eval'" not in csp and "*" not in csp
            for source in re.findall(r"https?://[^\s;']+", csp):
                assert urlsplit(source).hostname == LOOPBACK, source
