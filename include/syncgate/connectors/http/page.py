"""Turn one page of JSON records into a typed Arrow table, its rejects and cursor progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate.arrow_types import arrow_schema
from syncgate.arrow_values import from_list
from syncgate.connectors.http.coerce import CoerceError, coerce, sort_key
from syncgate.connectors.http.columns import coerce_columns
from syncgate.connectors.http.drift import SchemaTracker
from syncgate.connectors.http.records import Flattener
from syncgate.state.watermarks import KEY_SEPARATOR

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
    _flattener: Flattener | None = field(default=None, init=False, repr=False, compare=False)

    def flattener(self) -> Flattener:
        """``flatten`` compiled for these rules (built once per extraction)."""
        if self._flattener is None:
            self._flattener = Flattener(self.declared_paths, self.top_level)
        return self._flattener


def shape_page(
    records: list[dict[str, Any]],
    rules: PageRules,
    tracker: SchemaTracker,
    progress: dict[str, Any],
    *,
    columnar: bool = True,
) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """Flatten, window-filter, coerce and hash one page; updates ``progress`` counters.

    ``columnar`` coerces column by column (``syncgate.connectors.http.columns``); False keeps the per-row
    reference path, which gives the same table and rejects.
    """
    lower = sort_key(rules.lower) if rules.lower is not None else None
    upper = sort_key(rules.upper) if rules.upper is not None else None
    flat = rules.flattener()
    windowed = rules.cursor if lower or upper else None
    rows = list(map(flat, records))
    if windowed:
        inside = []
        for row in rows:
            value = row.get(windowed)
            if value is not None:
                position = sort_key(value)
                # The API may not filter (no `cursor_param`), or filter coarsely: the window decides.
                if (lower is not None and position < lower) or (upper is not None and position >= upper):
                    progress["filtered"] = progress.get("filtered", 0) + 1
                    continue
            inside.append(row)
        rows = inside
    tracker.admit_all(rows)
    columns = tracker.columns
    if columnar:
        landed, reasons = coerce_columns(rows, columns, rules.primary_key)
    else:
        landed, reasons = _coerce_rows(rows, columns, rules)
    kept: list[int] = []
    rejects: list[dict[str, Any]] = []
    newest = _Newest(progress)
    keyed = bool(rules.skip_keys) or rules.boundary_keys
    if not reasons and not keyed:
        # Every row lands and no key is needed: only the newest cursor value, found in one pass.
        if rules.cursor:
            newest.track_values([row.get(rules.cursor) for row in rows])
            newest.save()
        progress["rows"] = progress.get("rows", 0) + len(rows)
        progress["rejected"] = progress.get("rejected", 0)
        if not rows:
            return None, rejects
        return _table(columns, landed, None, rules), rejects
    for i, row in enumerate(rows):
        reason = reasons.get(i)
        if reason is not None:
            rejects.append(_reject(row, rules, reason))
            continue
        key = KEY_SEPARATOR.join(str(row.get(k)) for k in rules.primary_key) if keyed else ""
        cursor = row.get(rules.cursor) if rules.cursor else None
        if rules.skip_keys and cursor is not None and sort_key(cursor) == lower and key in rules.skip_keys:
            progress["filtered"] = progress.get("filtered", 0) + 1
            continue
        kept.append(i)
        if cursor is not None:
            newest.track(cursor, key if rules.boundary_keys else None)
    newest.save()
    progress["rows"] = progress.get("rows", 0) + len(kept)
    progress["rejected"] = progress.get("rejected", 0) + len(rejects)
    if not kept:
        return None, rejects
    return _table(columns, landed, kept if len(kept) < len(rows) else None, rules), rejects


def _coerce_rows(
    rows: list[dict[str, Any]], columns: list[tuple[str, str]], rules: PageRules
) -> tuple[list[list[Any]], dict[int, str]]:
    """The per-row path: ``_coerce_row`` of each row, as columns and reasons."""
    landed: list[list[Any]] = [[] for _ in columns]
    reasons: dict[int, str] = {}
    for i, row in enumerate(rows):
        values, reason = _coerce_row(row, columns, rules)
        if reason is not None:
            reasons[i] = reason
            values = [None] * len(columns)
        for column, value in zip(landed, values, strict=True):
            column.append(value)
    return landed, reasons


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

    def track_values(self, cursors: list[Any]) -> None:
        """``track(cursor, None)`` of each value, in order."""
        present = [c for c in cursors if c is not None]
        if not present:
            return
        value = max(present, key=sort_key)  # the first of equal maxima, as ``track`` keeps
        position = sort_key(value)
        if self.key is None or position > self.key:
            self.value, self.key, self.keys = value, position, []

    def save(self) -> None:
        if self.value is not None:
            self.progress["cursor_max"], self.progress["boundary_keys"] = self.value, self.keys


def _table(
    columns: list[tuple[str, str]], landed: list[Any], kept: list[int] | None, rules: PageRules
) -> pa.Table:
    """The page's table from per-column values (lists or arrays), only rows ``kept`` (None: all)."""
    import pyarrow as pa

    from syncgate.hashing import keyed_hash

    schema = arrow_schema(columns)
    indices = None if kept is None else from_list(kept, pa.int64())
    arrays = []
    for values, f in zip(landed, schema, strict=True):
        if isinstance(values, list):
            arrays.append(from_list(values if kept is None else [values[i] for i in kept], f.type))
        else:
            arrays.append(values if indices is None else values.take(indices))
    table = pa.Table.from_arrays(arrays, schema=schema)
    for name, key in rules.hashed.items():
        if name in table.column_names:
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(index), keyed_hash(table[name], key))
    return table
