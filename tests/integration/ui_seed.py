"""Flow specs and seeded state for the UI tests: audit rows, freshness, incidents, rejects."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from syncgate.state.schema import ensure_state_schema
from syncgate.ui.app import create_app
from syncgate.ui.auth import Viewer, current_viewer

# id -> (tags, freshness SLA?, state connection)
FLOWS = {
    "orders_ok": (["erp", "finance"], True, "dst_db"),
    "customers_late": (["erp"], True, "dst_db"),
    "products_breach": (["catalog"], True, "dst_db"),
    "never_run": (["catalog"], False, "dst_db"),
    "remote_down": (["remote"], False, "gone_db"),
}
PII_EMAIL = "jane.doe@example.com"


def spec_yaml(flow_id: str, tags: list[str], sla: bool, conn_id: str) -> str:
    spec = {
        "id": flow_id,
        "description": f"Test flow {flow_id}",
        "tags": tags,
        "source": {
            "type": "postgres",
            "conn_id": "src_db",
            "table": f"public.{flow_id}",
            "primary_key": ["id"],
        },
        "target": {"type": "postgres", "conn_id": conn_id, "table": f"analytics.{flow_id}", "write": "merge"},
        "transform": {"rename": {"mail": "email"}, "hash": ["email"]},
    }
    if sla:
        spec["freshness"] = {"column": "updated_at", "max_age": "2h", "warn_age": "1h"}
    return json.dumps(spec)  # JSON is YAML


def write_specs(folder: Path, flows: dict[str, tuple[list[str], bool, str]] = FLOWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for flow_id, (tags, sla, conn_id) in flows.items():
        (folder / f"{flow_id}.yml").write_text(spec_yaml(flow_id, tags, sla, conn_id))
    return folder


SEED = """
-- orders_ok: 30 successful runs an hour apart, lag growing 70 s .. 360 s, conflicts by rule.
INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, rows_extracted, rows_inserted,
    rows_updated, rows_deleted, lag_seconds, freshness_status, conflicts, quality_verdict,
    started_at, finished_at)
SELECT 'orders_ok', 'scheduled__run_' || lpad(g::text, 2, '0'), 'scheduled', 'success', 100 + g, 10, 5, 1,
       60 + g * 10, 'ok', '{"source_wins": 2, "target_wins": 1}'::jsonb, 'passed',
       now() - (31 - g) * interval '1 hour', now() - (31 - g) * interval '1 hour' + interval '40 seconds'
FROM generate_series(1, 30) g;
INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, run_id, lag_seconds, max_age_seconds,
    warn_age_seconds, status)
VALUES ('orders_ok', now() - interval '5 minutes', 'monitor', NULL, 360, 7200, 3600, 'ok');

-- customers_late: a success, then a failure; the monitor says warn; one open, one resolved incident.
INSERT INTO syncgate.sync_runs (flow_id, run_id, status, rows_extracted, rows_inserted, lag_seconds,
    freshness_status, started_at, finished_at, error)
VALUES ('customers_late', 'manual__2026-11-26T10:00:00+00:00', 'success', 7, 7, 900, 'ok',
        now() - interval '3 hours', now() - interval '3 hours' + interval '10 seconds', NULL),
       ('customers_late', 'manual__2026-11-26T12:00:00+00:00', 'failed', NULL, NULL, NULL, NULL,
        now() - interval '1 hour', now() - interval '1 hour' + interval '5 seconds', 'source unreachable');
INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, lag_seconds, max_age_seconds,
    warn_age_seconds, status)
VALUES ('customers_late', now() - interval '2 hours', 'promote', 900, 7200, 3600, 'ok'),
       ('customers_late', now() - interval '1 minute', 'monitor', 4500, 7200, 3600, 'warn');
INSERT INTO syncgate.incidents (flow_id, kind, severity, status, summary, opened_at, resolved_at)
VALUES ('customers_late', 'freshness', 'warning', 'open', 'customers data is 1h 15m old', now() - interval '15 minutes', NULL),
       ('customers_late', 'failures', 'critical', 'resolved', 'an old resolved failure', now() - interval '2 days', now() - interval '1 day');
INSERT INTO syncgate.rejected_records (flow_id, run_id, stage, record_key, reason, record, created_at)
SELECT 'customers_late', 'manual__2026-11-26T12:00:00+00:00', 'extract', jsonb_build_object('id', g),
       'updated_at: not a timestamp', jsonb_build_object('id', g, 'mail', '{email}', 'name', 'Customer ' || g),
       now() - g * interval '1 minute'
FROM generate_series(1, 30) g;

-- products_breach: no freshness check table row, the run's own verdict says breach.
INSERT INTO syncgate.sync_runs (flow_id, run_id, status, rows_extracted, rows_inserted, rows_updated,
    lag_seconds, freshness_status, conflicts, started_at, finished_at)
VALUES ('products_breach', 'scheduled__p1', 'success', 50, 0, 50, 9000, 'breach', '[{"rule": "x"}]',
        now() - interval '20 minutes', now() - interval '19 minutes');
INSERT INTO syncgate.incidents (flow_id, kind, severity, summary)
VALUES ('products_breach', 'freshness', 'critical', 'products data is 2h 30m old (SLA 2h)');
"""


def seed_state(url: str) -> None:
    with psycopg.connect(url) as conn:
        ensure_state_schema(conn)
        conn.execute(SEED.replace("{email}", PII_EMAIL))


def prepare_ui_state(
    databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The seeded flows: specs in a temporary flows folder, state in the ``dst`` database."""
    flows = write_specs(tmp_path / "flows")
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    # A state database nobody listens for: its flow shows an error, the others still load.
    monkeypatch.setenv("AIRFLOW_CONN_GONE_DB", "postgresql://syncgate@127.0.0.1:1/nowhere")
    seed_state(databases["dst"])
    return {**databases, "flows": str(flows)}


def mounted(viewer: Viewer | None = None) -> FastAPI:
    """The UI app mounted under ``/syncgate`` as Airflow mounts it, auth satisfied by ``viewer``."""
    ui = create_app()
    ui.dependency_overrides[current_viewer] = lambda: viewer or Viewer.everyone("tester")
    root = FastAPI()
    root.mount("/syncgate", ui)
    return root


REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".syncgate" / "test-artifacts" / "ui"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@contextmanager
def chromium(monkeypatch: pytest.MonkeyPatch, logs: bool = False) -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver; selenium downloads nothing.

    ``logs``: keep the console and the network log (``driver.get_log("browser" | "performance")``).
    """
    # Like PostgreSQL: installed on first use when we may (root + apt-get), else a clear failure.
    ensured = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_browser.sh")], capture_output=True, text=True
    )
    if ensured.returncode or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            f"the browser tests need {CHROMIUM} and {CHROMEDRIVER}: {ensured.stderr.strip()}",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never try to download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                # Nothing outside loopback is reachable: fail such lookups at once instead of waiting.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):  # fmt: skip
        options.add_argument(arg)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> None:
    """Keep a screenshot as a test artifact (``.syncgate/test-artifacts/ui/<name>.png``)."""
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


@contextmanager
def served_app(host: str = "127.0.0.1") -> Iterator[str]:
    """The mounted app on a real loopback port (uvicorn in a thread), for the browser; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(mounted(), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
