"""Files of the GX Data Docs site served by the UI: never a path outside the site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncgate.ui.files import data_docs_root, docs_relative, safe_file, validation_pages

pytestmark = pytest.mark.unit


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


def test_docs_relative_maps_a_report_url_into_the_flow_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path))
    page = tmp_path / "f" / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "f" / "x.html"
    assert docs_relative("f", page.as_uri()) == "validations/f/x.html"
    assert docs_relative("f", (tmp_path / "g" / "x.html").as_uri()) is None
    assert docs_relative("f", "https://example.com/x.html") is None and docs_relative("f", None) is None


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
