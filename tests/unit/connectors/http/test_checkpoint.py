"""Completed pages land in parts of a few MB; a crash resumes after the last landed part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

IDENTITY = {"run_id": "r1", "window": {}, "mark_batch": None, "spec": "x"}


@pytest.fixture(autouse=True)
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNCGATE_LANDING_URL", (tmp_path / "landing").as_uri())
    return tmp_path / "landing"


def page(*ids: int) -> Any:
    import pyarrow as pa

    return pa.table({"id": pa.array(ids, pa.int64())})


def local(directory: Any) -> Path:
    from syncgate import landing as landing_area

    path = landing_area.local_path(directory)
    assert path is not None
    return path


def landed_ids(checkpoint: Any) -> list[int]:
    import pyarrow.parquet as pq

    return [i for part in checkpoint.parts() for i in pq.read_table(local(part))["id"].to_pylist()]


def test_pages_gather_into_one_part_per_flush(landing: Path) -> None:
    from syncgate.connectors.http.checkpoint import Checkpoint

    checkpoint = Checkpoint.open("f", "run", IDENTITY)
    checkpoint.flush_bytes = page(1, 2).nbytes * 2  # a part every second page
    for n in range(5):
        checkpoint.save_page(page(2 * n, 2 * n + 1), [], pager={"page": n + 2})
    files = sorted(p.name for p in local(checkpoint.directory).iterdir())
    assert files == ["checkpoint.json", "part-00001.parquet", "part-00002.parquet"]
    saved = json.loads((local(checkpoint.directory) / "checkpoint.json").read_text())
    assert (saved["pages"], saved["parts"], saved["pager"]) == (4, 2, {"page": 5})
    # The fifth page lands with the parts' reader (the end of the extraction).
    assert landed_ids(checkpoint) == list(range(10))
    assert checkpoint.state["parts"] == 3


def test_a_crash_resumes_after_the_last_landed_part_without_duplicates(landing: Path) -> None:
    from syncgate.connectors.http.checkpoint import Checkpoint

    first = Checkpoint.open("f", "run", IDENTITY)
    first.flush_bytes = page(1, 2).nbytes * 2
    for n in range(3):  # pages 1-2 land as a part; page 3 is still in memory at the crash
        first.save_page(page(2 * n, 2 * n + 1), [{"reason": f"page {n + 1}"}], pager={"next": n + 2})
    # The process dies here: no flush. The task's retry opens the same run's checkpoint.
    retry = Checkpoint.open("f", "run", IDENTITY)
    assert retry.batch_id == first.batch_id
    assert (retry.state["pages"], retry.state["pager"]) == (2, {"next": 3})  # page 3 is read again
    retry.save_page(page(4, 5), [{"reason": "page 3"}], pager={"next": 4})
    assert landed_ids(retry) == [0, 1, 2, 3, 4, 5]
    assert [r["reason"] for r in retry.rejects()] == ["page 1", "page 2", "page 3"]


def test_a_flush_on_failure_lands_every_completed_page(landing: Path) -> None:
    from syncgate.connectors.http.checkpoint import Checkpoint

    first = Checkpoint.open("f", "run", IDENTITY)
    first.save_page(page(1), [], pager={"next": 2})
    first.save_page(None, [], pager={"next": 3})  # an empty page moves the checkpoint too
    first.flush()  # the extract's error path
    retry = Checkpoint.open("f", "run", IDENTITY)
    assert (retry.state["pages"], retry.state["pager"]) == (2, {"next": 3})
    assert landed_ids(retry) == [1]


def test_pages_whose_columns_changed_land_as_separate_parts(landing: Path) -> None:
    import pyarrow as pa

    from syncgate.connectors.http.checkpoint import Checkpoint

    checkpoint = Checkpoint.open("f", "run", IDENTITY)
    checkpoint.save_page(page(1), [])
    checkpoint.save_page(pa.table({"id": pa.array([2], pa.int64()), "new": ["x"]}), [])
    checkpoint.save_page(pa.table({"id": pa.array([3], pa.int64()), "new": ["y"]}), [])
    assert len(checkpoint.parts()) == 2
    schema = pa.schema([("id", pa.int64()), ("new", pa.string())])
    path, rows, _ = checkpoint.combine(schema)
    import pyarrow.parquet as pq

    assert rows == 3 and pq.read_table(local(path)).to_pylist() == [
        {"id": 1, "new": None},
        {"id": 2, "new": "x"},
        {"id": 3, "new": "y"},
    ]


def test_a_checkpoint_of_the_page_per_part_layout_still_resumes(landing: Path) -> None:
    import pyarrow.parquet as pq

    from syncgate.connectors.http.checkpoint import Checkpoint

    old = Checkpoint.open("f", "run", IDENTITY)
    directory = local(old.directory)
    # Written by an earlier version: a part per page (page 2 had no rows), no "parts" counter.
    pq.write_table(page(1), directory / "part-00001.parquet")
    pq.write_table(page(3), directory / "part-00003.parquet")
    (directory / "rejects-00002.json").write_text(json.dumps([{"reason": "old"}]))
    state = {"identity": IDENTITY, "batch_id": old.batch_id, "pages": 3, "pager": {"next": 4}}
    (directory / "checkpoint.json").write_text(json.dumps(state))
    retry = Checkpoint.open("f", "run", IDENTITY)
    retry.save_page(page(4), [{"reason": "new"}])
    assert landed_ids(retry) == [1, 3, 4]
    assert [r["reason"] for r in retry.rejects()] == ["old", "new"]


def test_rejects_of_a_flush_that_crashed_before_its_checkpoint_do_not_count(
    landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.connectors.http.checkpoint import Checkpoint

    first = Checkpoint.open("f", "run", IDENTITY)
    first.save_page(page(1), [{"record": {"id": 2}, "reason": "bad date"}], pager={"page": 2})
    # A hard crash between the flush's data files and its checkpoint.json.
    from syncgate import landing as landing_area

    real_write = landing_area.write_text

    def crash_on_checkpoint(path: Any, *args: Any, **kwargs: Any) -> Any:
        if path.name == "checkpoint.json":
            raise SystemExit("killed")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(landing_area, "write_text", crash_on_checkpoint)
    with pytest.raises(SystemExit):
        first.flush()
    monkeypatch.setattr(landing_area, "write_text", real_write)
    assert (local(first.directory) / "rejects-00001.json").exists()

    # The retry fetches the page again; the record was fixed upstream meanwhile.
    retry = Checkpoint.open("f", "run", IDENTITY)
    assert retry.batch_id == first.batch_id and retry.state["parts"] == 0
    retry.save_page(page(1, 2), [], pager={"page": 2})
    assert landed_ids(retry) == [1, 2]
    assert retry.rejects() == []
