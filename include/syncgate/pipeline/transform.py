"""Transform: apply the spec's declarative transform to the landed batch, row group by row group.

Order: rename, cast, map_values, drop. ``cast`` changes the PostgreSQL type the column is
staged with (PostgreSQL converts on load, so a bad value fails the load, never the target).
``hash`` is applied earlier, by extract, so PII never lands in clear.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.arrow_types import arrow_schema
from syncgate.batch.contract import Batch
from syncgate.pipeline.startup import import_libraries
from syncgate.spec.model import FlowSpec, Transform

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


def transform(spec: FlowSpec, batch: Batch) -> Batch:
    """Write the transformed batch next to the extracted one; returns the updated batch."""
    steps = spec.transform
    startup = import_libraries("transform") if _has_work(steps) else 0.0
    started = time.monotonic()
    columns = output_columns(steps, batch.columns)
    if not _has_work(steps):
        return _done(batch, columns, batch.files["data"], started, startup)
    source_url = batch.files["data"]
    out = landing.as_path(source_url).parent / "transformed.parquet"
    schema = _text_for_casts(arrow_schema(columns), steps)
    with landing.ParquetSink(out, schema) as sink:
        for table in landing.read_batches(source_url):
            sink.write(apply(steps, table).cast(schema))
        sink.close()
    return _done(batch, columns, str(out), started, startup)


def output_columns(steps: Transform, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) of the batch after the transform."""
    result = []
    for name, pg_type in columns:
        name = steps.output_name(name)
        if name in steps.drop:
            continue
        if name in steps.hash or name in steps.map_values:
            pg_type = "text"
        result.append((name, steps.cast.get(name, pg_type)))
    return result


def apply(steps: Transform, table: pa.Table) -> pa.Table:
    """Apply the transform to one Arrow table (pure, for tests and the task alike)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.rename_columns([steps.output_name(n) for n in table.column_names])
    for name in steps.cast:
        # Values travel as text; PostgreSQL applies the cast when loading staging.
        table = _replace(table, name, pc.cast(table[name], pa.string()))
    for name, mapping in steps.map_values.items():
        table = _replace(table, name, _map_values(table[name], mapping))
    return table.drop_columns([n for n in steps.drop if n in table.column_names])


def _text_for_casts(schema: pa.Schema, steps: Transform) -> pa.Schema:
    """Cast columns stay text in Parquet: PostgreSQL converts them (and names a bad value) on load."""
    import pyarrow as pa

    for name in steps.cast:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(index).with_type(pa.string()))
    return schema


def _has_work(steps: Transform) -> bool:
    return bool(steps.rename or steps.cast or steps.map_values or steps.drop)


def _replace(table: pa.Table, name: str, values: Any) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def _map_values(column: Any, mapping: dict[str, str | None]) -> Any:
    """Replace listed values; unlisted values pass through unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string())
    keys = pa.array(list(mapping), pa.string())
    index = pc.index_in(text, value_set=keys)
    mapped = pc.take(pa.array(list(mapping.values()), pa.string()), index)
    return pc.if_else(pc.is_null(index), text, mapped)


def _done(batch: Batch, columns: list[tuple[str, str]], url: str, started: float, startup: float) -> Batch:
    seconds = time.monotonic() - started
    log.info("Transformed batch %s in %.2fs", batch.batch_id, seconds)
    return dataclasses.replace(batch, columns=columns, files={**batch.files, "staged": url}).with_seconds(
        transform=seconds, transform_startup=startup
    )
