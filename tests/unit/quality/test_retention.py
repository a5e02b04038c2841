from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncgate.quality.retention import prune_reports

pytestmark = pytest.mark.unit


def make_run(root: Path, suite: str, name: str, age: int) -> None:
    result = root / "uncommitted" / "validations" / suite / name / "20260101T000000Z"
    page = root / "uncommitted" / "data_docs" / "local_site" / "validations" / suite / name
    result.mkdir(parents=True)
    page.mkdir(parents=True)
    (result / "b.json").write_text("{}")
    stamp = 1_700_000_000 + age
    os.utime(root / "uncommitted" / "validations" / suite / name, (stamp, stamp))


def test_keeps_the_newest_runs_and_their_pages(tmp_path: Path) -> None:
    for i in range(5):
        make_run(tmp_path, "flow", f"run{i}", age=i)
    make_run(tmp_path, "other", "run0", age=0)
    assert prune_reports(tmp_path, "flow", keep=2) == 3
    kept = sorted(p.name for p in (tmp_path / "uncommitted" / "validations" / "flow").iterdir())
    pages = sorted(p.name for p in (tmp_path / "uncommitted/data_docs/local_site/validations/flow").iterdir())
    assert kept == pages == ["run3", "run4"]
    assert (tmp_path / "uncommitted" / "validations" / "other" / "run0").is_dir()  # other flows untouched


def test_nothing_to_prune(tmp_path: Path) -> None:
    assert prune_reports(tmp_path, "flow", keep=10) == 0
