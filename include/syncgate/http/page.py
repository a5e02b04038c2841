"""Turn one page of JSON records into a typed Arrow table, its rejects and cursor progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate.arrow_types import arrow_schema
from syncgate.http.coerce import CoerceError, coerce, sort_key
from syncgate.http.drift import SchemaTracker
from syncgate.http.records import MISSING, flatten
from syncgate.pipeline.source_sql import KEY_SEPARATOR

if TYPE_CHECKING:
    import pyarrow as pa

MASK = "***"


@dataclass
class PageRules:
    """What every page of one extraction is held to."""

    primary_key: list[str]
    cursor: str | None
    declared_paths: dict[str, str]
    top_level: bool
    hashed: dict[str, bytes] = field(default_factory=dict)  # column -> HMAC key
    pii: frozenset[str] = frozenset()  # masked in rejected records, with the hashed ones
    lower: str | None = None  # window: cursor >= lower
    upper: str | None = None  # window: cursor < upper (backfills)
    skip_keys: set[str] = field(default_factory=set)  # append: boundary rows already promoted
    boundary_keys: bool = False  # append: remember the keys of the rows at the new watermark


def shape_page(
    records: list[dict[str, Any]], rules: PageRules, tracker: SchemaTracker, progress: dict[str, Any]
) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """Flatten, window-filter, coerce and hash one page; updates ``progress`` counters."""
    lower = sort_key(rules.lower) if rules.lower is not None else None
    upper = sort_key(rules.upper) if rules.upper is not None else None
    rows = []
    for record in records:
        row = {
            k: v
            for k, v in flatten(record, rules.declared_paths, rules.top_level).items()
            if v is not MISSING
        }
        value = row.get(rules.cursor) if rules.cursor and (lower or upper) else None
        if value is not None:
            position = sort_key(value)
            # The API may not filter (no `cursor_param`), or filter coarsely: the window decides.
            if (lower is not None and position < lower) or (upper is not None and position >= upper):
                progress["filtered"] = progress.get("filtered", 0) + 1
                continue
        tracker.admit(row)
        rows.append(row)
    columns = tracker.columns
    accepted: list[list[Any]] = []
    rejects: list[dict[str, Any]] = []
    newest = _Newest(progress)
    for row in rows:
        values, reason = _coerce_row(row, columns, rules)
        if reason is not None:
            rejects.append(_reject(row, rules, reason))
            continue
        key = KEY_SEPARATOR.join(str(row.get(k)) for k in rules.primary_key)
        cursor = row.get(rules.cursor) if rules.cursor else None
        if rules.skip_keys and cursor is not None and sort_key(cursor) == lower and key in rules.skip_keys:
            progress["filtered"] = progress.get("filtered", 0) + 1
            continue
        accepted.append(values)
        if cursor is not None:
            newest.track(cursor, key if rules.boundary_keys else None)
    newest.save()
    progress["rows"] = progress.get("rows", 0) + len(accepted)
    progress["rejected"] = progress.get("rejected", 0) + len(rejects)
    if not accepted:
        return None, rejects
    return _table(columns, accepted, rules), rejects


def _coerce_row(
    row: dict[str, Any], columns: list[tuple[str, str]], rules: PageRules
) -> tuple[list[Any], str | None]:
    for name in rules.primary_key:
        if row.get(name) is None:
            return [], f"primary key field {name!r} is missing or null"
    values = []
    for name, pg_type in columns:
        try:
            values.append(coerce(row.get(name), pg_type))
        except CoerceError as exc:
            return [], f"field {name!r}: expected {pg_type}, {exc}"
    return values, None


def _reject(row: dict[str, Any], rules: PageRules, reason: str) -> dict[str, Any]:
    masked = {
        k: (MASK if (k in rules.hashed or k in rules.pii) and v is not None else v) for k, v in row.items()
    }
    return {
        "record_key": {k: masked.get(k) for k in rules.primary_key},
        "reason": reason,
        "record": masked,
    }


class _Newest:
    """The newest cursor value seen (and the keys carrying it), with its sort key cached."""

    def __init__(self, progress: dict[str, Any]) -> None:
        self.progress = progress
        self.value = progress.get("cursor_max")
        self.key = sort_key(self.value) if self.value is not None else None
        self.keys: list[str] = list(progress.get("boundary_keys") or [])

    def track(self, cursor: Any, key: str | None) -> None:
        position = sort_key(cursor)
        if self.key is None or position > self.key:
            self.value, self.key, self.keys = cursor, position, [key] if key is not None else []
        elif position == self.key and key is not None:
            self.keys.append(key)

    def save(self) -> None:
        if self.value is not None:
            self.progress["cursor_max"], self.progress["boundary_keys"] = self.value, self.keys


def _table(columns: list[tuple[str, str]], rows: list[list[Any]], rules: PageRules) -> pa.Table:
    import pyarrow as pa

    from syncgate.pipeline.hashing import keyed_hash

    schema = arrow_schema(columns)
    arrays = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)]
    table = pa.Table.from_arrays(arrays, schema=schema)
    for name, key in rules.hashed.items():
        if name in table.column_names:
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(index), keyed_hash(table[name], key))
    return table
