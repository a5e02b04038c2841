"""Keep one version of each record when the landed pages of a live API overlap.

A record updated while the extraction runs moves forward in the ``(cursor, key)`` order and
can be read twice: its old version on an early page, its new one on a later page (or on a
resumed attempt). The batch must hold each primary key once (the quality gate checks it),
so the newest version wins: the highest cursor, the last one read on a tie.

Arrow finds the keys that occur more than once (usually none, or a handful); only those
rows are compared in Python, with the same cursor order the window and watermark use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.arrow_values import from_list
from syncgate.connectors.http.coerce import sort_key

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

_PART = "__syncgate_part"
_ROW = "__syncgate_row"


def superseded(
    parts: list[ObjectStoragePath], primary_key: list[str], cursor: str | None
) -> dict[int, list[int]]:
    """Part index -> row positions (within that part) of older versions to leave out."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = [*primary_key, *([cursor] if cursor and cursor not in primary_key else [])]
    tables = []
    for index, part in enumerate(parts):
        table = _read_columns(part, wanted)
        if table is None:
            continue  # a part without the key columns cannot have landed (keys are required)
        n = table.num_rows
        table = table.append_column(_PART, _numbers(np.full(n, index, dtype=np.int32), pa.int32()))
        table = table.append_column(_ROW, _numbers(np.arange(n, dtype=np.int64), pa.int64()))
        tables.append(table)
    if not tables:
        return {}
    keys = pa.concat_tables(tables, promote_options="permissive")
    # Sorted by key, a repeated key sits next to itself. (Sort and compare kernels: a group-by or
    # join would load Arrow's query engine, whose import alone costs 0.5-0.8 s per task.)
    order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in primary_key])
    ordered = keys.select(primary_key).take(order)
    n = ordered.num_rows
    same = None
    for name in primary_key:
        column = ordered[name]
        equal = pc.equal(column.slice(1), column.slice(0, n - 1))
        same = equal if same is None else pc.and_(same, equal)
    if same is None or not pc.any(same).as_py():
        return {}
    first = pc.indices_nonzero(same).to_pylist()  # usually a handful
    positions = sorted({*first, *(i + 1 for i in first)})  # both rows of each equal neighbour pair
    # Rows sharing a repeated key, in reading order (parts, then rows).
    rows = keys.take(order.take(from_list(positions, pa.int64()))).sort_by(
        [(_PART, "ascending"), (_ROW, "ascending")]
    )
    newest: dict[tuple[Any, ...], tuple[Any, int, int]] = {}
    drop: dict[int, list[int]] = {}
    for record in rows.to_pylist():
        key = tuple(record[k] for k in primary_key)
        value = record[cursor] if cursor else None
        rank = (0,) if value is None else (1, *sort_key(value))
        place = (record[_PART], record[_ROW])
        kept = newest.get(key)
        if kept is None or rank >= kept[0]:  # a tie: the later read wins
            if kept is not None:
                drop.setdefault(kept[1], []).append(kept[2])
            newest[key] = (rank, *place)
        else:
            drop.setdefault(place[0], []).append(place[1])
    return drop


def _numbers(values: Any, arrow: pa.DataType) -> pa.Array:
    """A numpy vector as an Arrow array, without ``pa.array`` (its first call imports pandas)."""
    import pyarrow as pa

    return pa.Array.from_buffers(arrow, len(values), [None, pa.py_buffer(values)])


def _read_columns(part: ObjectStoragePath, names: list[str]) -> pa.Table | None:
    """Only the named columns of a landed part (None when it lacks one)."""
    import pyarrow.parquet as pq

    with landing.as_path(str(part)).open("rb") as handle:
        parquet = pq.ParquetFile(handle)
        if not set(names) <= set(parquet.schema_arrow.names):
            return None
        return parquet.read(columns=names)
