"""UI building blocks: sparkline, safe file lookup, run keys, PII masking, formatting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncgate.report.paths import report_files, report_url, run_key
from syncgate.spec.model import FlowSpec
from syncgate.ui.files import data_docs_root, docs_relative, safe_file, validation_pages
from syncgate.ui.formatting import count, duration
from syncgate.ui.masking import MASK, masked, pii_columns
from syncgate.ui.sparkline import sparkline

pytestmark = pytest.mark.unit


def test_sparkline_draws_one_point_per_value_and_skips_gaps() -> None:
    svg = sparkline([10, None, 30, 20])
    points = svg.split('points="')[1].split('"')[0].split()
    assert (
        len(points) == 3
        and svg.startswith("<svg")
        and "<title>lag trend: last 20s, min 10s, max 30s</title>" in svg
    )
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] == min(ys) and ys[0] == max(ys)  # the highest lag is drawn at the top
    assert sparkline([5]) == "" and sparkline([]) == "" and sparkline([None, None]) == ""
    assert "nan" not in sparkline([3, 3, 3]).lower()  # a flat line, no division by zero


def test_safe_file_stays_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "page.html").write_text("ok")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    assert safe_file(root, "sub/page.html") == (root / "sub" / "page.html").resolve()
    for bad in (
        "../outside.txt",
        "sub/../../outside.txt",
        "/etc/passwd",
        "link.txt",
        "sub",
        "",
        "a\x00b",
        "..\\x",
    ):
        assert safe_file(root, bad) is None, bad
    assert safe_file(tmp_path / "missing", "x") is None


def test_run_key_is_filesystem_safe_and_unique(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_key("scheduled__2026-11-26T10_00_00") == "scheduled__2026-11-26T10_00_00"
    key = run_key("manual__2026-11-26T10:00:00+00:00")
    assert key.startswith("manual__2026-11-26T10_00_00_00_00-") and len(key.rsplit("-", 1)[1]) >= 8
    assert run_key("a/b") != run_key("a:b") and "/" not in run_key("../../etc")
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    json_file, html_file = report_files("orders", "a/b")
    assert json_file.parent == html_file.parent == tmp_path / "orders" / "runs"
    assert (json_file.suffix, html_file.suffix) == (".json", ".html")
    assert report_url("orders", "manual__x+00:00") == "/syncgate/flows/orders/runs/manual__x%2B00%3A00/report"


def test_docs_relative_maps_a_report_url_into_the_flow_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    page = tmp_path / "f" / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "f" / "x.html"
    assert docs_relative("f", page.as_uri()) == "validations/f/x.html"
    assert docs_relative("f", (tmp_path / "g" / "x.html").as_uri()) is None
    assert docs_relative("f", "https://example.com/x.html") is None and docs_relative("f", None) is None


def test_pii_columns_are_masked_under_source_and_target_names() -> None:
    spec = FlowSpec.model_validate(
        {
            "id": "people",
            "source": {"type": "postgres", "conn_id": "a", "table": "public.p", "primary_key": ["id"]},
            "target": {"type": "postgres", "conn_id": "b", "table": "public.p", "write": "merge"},
            "transform": {"rename": {"mail": "email"}, "hash": ["email", "phone"]},
            "pii": ["name"],
        }
    )
    assert pii_columns(spec) == {"mail", "email", "phone", "name"}
    record = {"id": 1, "mail": "a@b.c", "phone": None, "name": "Ann", "city": "Oslo"}
    assert masked(record, pii_columns(spec)) == {
        "id": 1, "mail": MASK, "phone": None, "name": MASK, "city": "Oslo",
    }  # fmt: skip
    assert masked(["not", "a", "dict"], {"x"}) == ["not", "a", "dict"]


def test_formatting() -> None:
    assert [duration(v) for v in (None, 0, 4.5, 95, 7200, 200000)] == [
        "–",
        "0s",
        "4.5s",
        "1m 35s",
        "2h 00m",
        "2d 07h",
    ]
    assert count(1234567) == "1,234,567" and count(None) == "–"


def test_validation_pages_list_the_newest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    site = data_docs_root("f")
    for run, stamp in (
        ("run_a", "20261126T100000.000001Z"),
        ("run_b", "20261126T120000.5Z"),
        ("run_c", "odd"),
    ):
        page = site / "validations" / "f" / run / stamp / "target-staging.html"
        page.parent.mkdir(parents=True)
        page.write_text("<html></html>")
    (site / "validations" / "other_suite").mkdir()
    pages = validation_pages("f", limit=2)
    assert [(p.run_name, p.validated_at) for p in pages] == [
        ("run_c", "odd"),
        ("run_b", "2026-11-26 12:00:00 UTC"),
    ]
    assert pages[1].path == "validations/f/run_b/20261126T120000.5Z/target-staging.html"
    assert validation_pages("missing") == []


def test_the_plugin_module_imports_no_web_framework() -> None:
    # Every task process imports plugin modules (for macros): the UI must cost them nothing.
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    probe = (
        "import sys, syncgate_ui; "
        "print(sorted(m for m in ('fastapi', 'syncgate.ui.app', 'psycopg') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": f"{repo / 'include'}{os.pathsep}{repo / 'plugins'}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"  # Airflow may log before it
