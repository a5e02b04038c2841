from __future__ import annotations

from pathlib import Path

import pytest

from syncgate.report.paths import docs_link, docs_path, docs_site_dir, report_files, report_url, run_key

pytestmark = pytest.mark.unit


def test_a_safe_run_id_is_its_own_key() -> None:
    assert run_key("scheduled__2026-01-01T00_00_00") == "scheduled__2026-01-01T00_00_00"


@pytest.mark.parametrize(
    "run_id",
    ["manual__2026-11-26T16:25:08.848651+00:00", "a/../../etc", "x y", "é", ".", "..", "a" * 250],
)
def test_unsafe_run_ids_become_safe_distinct_bounded_keys(run_id: str) -> None:
    key = run_key(run_id)
    assert key != run_id and set(key) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
    )
    assert key.strip(".") and len(key) <= 161
    assert run_key(run_id) == key  # stable


def test_ids_that_sanitise_alike_keep_distinct_keys() -> None:
    assert run_key("a:b") != run_key("a/b") and run_key("a:b").startswith("a_b-")


def test_report_url_quotes_the_run_id() -> None:
    url = report_url("erp_orders", "manual__2026-01-01T00:00:00+00:00/x y")
    assert url == "/syncgate/flows/erp_orders/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00%2Fx%20y/report"


def test_report_files_live_under_the_flow_runs_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    json_path, html_path = report_files("f", "manual__1:2")
    key = run_key("manual__1:2")
    assert (json_path, html_path) == (
        tmp_path / "f/runs" / f"{key}.json",
        tmp_path / "f/runs" / f"{key}.html",
    )


def test_docs_path_is_relative_to_the_flow_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    page = docs_site_dir("f") / "validations" / "f" / "run 1" / "20260101T000000Z" / "b.html"
    assert docs_path("f", page.as_uri()) == "validations/f/run%201/20260101T000000Z/b.html"
    assert docs_link("validations/f/x.html") == "../../docs/validations/f/x.html"
    assert docs_path("f", (tmp_path / "elsewhere.html").as_uri()) is None  # outside the site: no link
    assert docs_path("f", "https://example.com/x.html") is None
    assert docs_path("f", None) is None and docs_link(None) is None
