"""The landing area on a local folder: Parquet batches written, read back by row group, removed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from syncgate import landing

pytestmark = pytest.mark.unit

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]})


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNCGATE_LANDING_URL", (tmp_path / "landing").as_uri())
    return tmp_path / "landing"


def test_a_batch_folder_is_created_under_the_flow(root: Path) -> None:
    folder = landing.batch_dir("orders", "b1")
    assert landing.local_path(folder) == root / "orders" / "b1" and (root / "orders" / "b1").is_dir()


def test_a_sink_writes_one_row_group_per_non_empty_table_and_counts_rows(root: Path) -> None:
    path = landing.batch_dir("orders", "b1") / "data.parquet"
    with landing.ParquetSink(path, TABLE.schema) as sink:
        sink.write(TABLE)
        sink.write(TABLE.slice(0, 0))  # empty: no row group
        sink.write(TABLE.slice(1))
    assert sink.rows == 5
    url = str(path)
    assert landing.row_groups(url) == 2
    groups = list(landing.read_batches(url))
    assert [g.num_rows for g in groups] == [3, 2] and pa.concat_tables(groups).equals(
        pa.concat_tables([TABLE, TABLE.slice(1)])
    )
    assert [g.num_rows for g in landing.read_batches(url, [1])] == [2]


def test_landed_files_are_zstd_without_dictionary_pages(root: Path) -> None:
    path = landing.batch_dir("orders", "b1") / "data.parquet"
    landing.write_table(path, TABLE)
    column = pq.ParquetFile(root / "orders" / "b1" / "data.parquet").metadata.row_group(0).column(1)
    assert column.compression == "ZSTD" and column.dictionary_page_offset is None


def test_close_returns_the_file_size_and_uncompressed_bytes_come_from_the_footer(root: Path) -> None:
    path = landing.batch_dir("orders", "b1") / "data.parquet"
    sink = landing.ParquetSink(path, TABLE.schema)
    sink.write(TABLE)
    size = sink.close()
    assert size == (root / "orders" / "b1" / "data.parquet").stat().st_size
    meta = pq.ParquetFile(root / "orders" / "b1" / "data.parquet").metadata
    assert landing.uncompressed_bytes(str(path)) == meta.row_group(0).total_byte_size > 0


def test_a_small_json_file_reads_back(root: Path) -> None:
    folder = landing.batch_dir("orders", "b1")
    (root / "orders" / "b1" / "boundary.json").write_text(json.dumps({"value": "x", "keys": ["1"]}))
    assert landing.read_json(str(folder / "boundary.json")) == {"value": "x", "keys": ["1"]}


def test_removing_a_batch_deletes_only_its_folder_and_tolerates_a_missing_one(root: Path) -> None:
    landing.write_table(landing.batch_dir("orders", "b1") / "data.parquet", TABLE)
    landing.write_table(landing.batch_dir("orders", "b2") / "data.parquet", TABLE)
    landing.forget_batch("orders", "b1")
    landing.forget_batch("orders", "never-landed")
    assert not (root / "orders" / "b1").exists() and (root / "orders" / "b2" / "data.parquet").is_file()


def test_a_remote_landing_area_has_no_local_path() -> None:
    assert landing.local_path(landing.as_path("s3://bucket/landing/x.parquet")) is None


def test_landed_files_and_folders_are_private_whatever_the_umask(root: Path) -> None:
    import os
    import stat

    previous = os.umask(0)
    try:
        folder = landing.batch_dir("orders", "b1")
        with landing.ParquetSink(folder / "data.parquet", TABLE.schema) as sink:
            sink.write(TABLE)
        landing.write_table(folder / "part-00001.parquet", TABLE)
        landing.write_text(folder / "boundary.json", "{}")
        (root / "orders" / "b1" / "stale.json").write_text("x")
        os.chmod(root / "orders" / "b1" / "stale.json", 0o666)
        landing.write_text(folder / "stale.json", "{}")  # an existing file is made private too
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    assert modes == {
        "landing": 0o700, "orders": 0o700, "b1": 0o700,
        "data.parquet": 0o600, "part-00001.parquet": 0o600, "boundary.json": 0o600, "stale.json": 0o600,
    }  # fmt: skip


def test_leftovers_go_but_kept_batches_and_the_runs_own_checkpoint_stay(root: Path) -> None:
    for batch in ("live", "dead", "mine"):
        landing.write_text(landing.batch_dir("orders", batch) / "data.parquet", "x")
    resume = root / "orders" / "_resume"
    resume.mkdir()
    (resume / "myrunkey.json").write_text(json.dumps({"batch_id": "mine"}))
    (resume / "otherrun.json").write_text(json.dumps({"batch_id": "dead"}))
    removed = landing.remove_batches_except("orders", {"live"}, keep_resume_for="myrunkey")
    assert removed == ["dead"]
    assert sorted(p.name for p in (root / "orders").iterdir()) == ["_resume", "live", "mine"]
    assert [p.name for p in resume.iterdir()] == ["myrunkey.json"]
    assert landing.remove_batches_except("other_flow", set(), keep_resume_for="x") == []
