from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncgate.connectors.http.dedupe import superseded

pytestmark = pytest.mark.unit


def parts(tmp_path: Path, *pages: list[dict[str, Any]]) -> list[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    for n, page in enumerate(pages, 1):
        path = tmp_path / f"part-{n:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(page), path)
        paths.append(path)
    return paths


def test_the_newest_version_of_a_key_wins_across_pages(tmp_path: Path) -> None:
    found = parts(
        tmp_path,
        [{"id": 1, "u": "2026-01-01T00:00:00Z"}, {"id": 2, "u": "2026-01-01T00:00:01Z"}],
        [{"id": 3, "u": "2026-01-02T00:00:00Z"}, {"id": 1, "u": "2026-01-03T00:00:00.5+00:00"}],
        # An older version read last (a stale replica): the newer one stays.
        [{"id": 3, "u": "2026-01-01T23:00:00Z"}],
    )
    assert superseded(found, ["id"], "u") == {0: [0], 2: [0]}


def test_ties_keep_the_last_read_and_unique_keys_drop_nothing(tmp_path: Path) -> None:
    tie = parts(tmp_path, [{"id": 1, "u": 5, "v": "a"}, {"id": 1, "u": 5, "v": "b"}])
    assert superseded(tie, ["id"], "u") == {0: [0]}
    assert superseded(tie, ["id"], None) == {0: [0]}
    assert superseded(parts(tmp_path, [{"id": 1, "u": 5}], [{"id": 2, "u": 5}]), ["id"], "u") == {}


def test_composite_keys_and_null_cursors(tmp_path: Path) -> None:
    found = parts(
        tmp_path,
        [{"a": 1, "b": "x", "u": None}, {"a": 1, "b": "y", "u": 1}],
        [{"a": 1, "b": "x", "u": 0}, {"a": 1, "b": "y", "u": None}],
    )
    assert superseded(found, ["a", "b"], "u") == {0: [0], 1: [1]}


def test_keys_sharing_one_column_are_distinct_and_three_versions_keep_one(tmp_path: Path) -> None:
    found = parts(
        tmp_path,
        [{"a": 1, "b": "x", "u": 1}, {"a": 1, "b": "y", "u": 1}, {"a": 2, "b": "x", "u": 1}],
        [{"a": 2, "b": "y", "u": 2}, {"a": 1, "b": "y", "u": 3}],
        [{"a": 1, "b": "y", "u": 2}, {"a": 3, "b": "z", "u": 9}],
    )
    # (1, "y") is read three times: the version with u=3 (second part, row 1) stays.
    assert superseded(found, ["a", "b"], "u") == {0: [1], 2: [0]}
