"""Find the record list in a response body and flatten records into named columns."""

from __future__ import annotations

import re
from typing import Any

from syncgate.errors import FatalError

MISSING: Any = object()  # a path that is absent, as opposed to present with null
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")


def dig(doc: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.items``, ``tags.0``); ``MISSING`` when absent."""
    return _dig_parts(doc, path.split(".")) if path else doc


def record_list(body: Any, path: str | None, where: str, path_seen: bool = False) -> list[dict[str, Any]]:
    """The records of one page; a body of another shape is a contract breach, not a retry.

    ``path_seen``: an earlier page of this run had the list at ``path``.
    """
    found = dig(body, path)
    if found is MISSING or found is None:
        if path and isinstance(body, dict) and (found is None or path_seen):
            # A null list, or an absent one once the path is known good: "no records".
            return []
        raise FatalError(_no_list(body, path, where))
    if not isinstance(found, list):
        raise FatalError(
            f"{where}: `records: {path or '(body)'}` is a JSON {type(found).__name__}, not a list"
        )
    if not all(isinstance(r, dict) for r in found):
        raise FatalError(f"{where}: `records: {path or '(body)'}` holds entries that are not JSON objects")
    return found


def _no_list(body: Any, path: str | None, where: str) -> str:
    """Why the body has no record list, naming the spec key (never a value: it may be PII)."""
    if isinstance(body, list):
        return (
            f"{where}: the response body is a JSON list, not an object: omit `source.records` (now `{path}`)"
        )
    if isinstance(body, dict):
        keys = ", ".join(sorted(str(k) for k in body)[:10]) or "none"
        return (
            f"{where}: the response body has no `source.records` path `{path}` (top-level keys: {keys}); "
            "check the spelling of `source.records`"
        )
    return f"{where}: the response body is a JSON {type(body).__name__}, not a record list (`source.records`)"


def column_name(key: str) -> str:
    """A record key as a column name (plain identifier, at most 63 characters)."""
    name = _NOT_NAME.sub("_", key)
    if not name or name[0].isdigit():
        name = f"_{name}"
    return name[:63]


def flatten(record: dict[str, Any], declared: dict[str, str], top_level: bool) -> dict[str, Any]:
    """Column name -> JSON value of one record: declared paths, plus top-level fields.

    Declared columns are always present (``MISSING`` when their path is absent); top-level
    fields appear only when the record has them. Nested objects stay whole (jsonb) unless a
    declared path reaches into them.
    """
    row: dict[str, Any] = {}
    if top_level:
        for key, value in record.items():
            row[column_name(key)] = value
    for name, path in declared.items():
        row[name] = dig(record, path)
    return row


class Flattener:
    """``flatten`` compiled for one extraction, dropping ``MISSING`` columns.

    Paths are split once and column names of top-level keys cached, so a page of records
    costs a dict comprehension and a few lookups per record rather than a regex per key.
    """

    def __init__(self, declared: dict[str, str], top_level: bool) -> None:
        self.top_level = top_level
        self._declared = [(name, path.split(".") if path else []) for name, path in declared.items()]
        # Declared as their own top-level field: a plain copy of the record already holds them.
        self._not_copied = [(name, parts) for name, parts in self._declared if parts != [name]]
        self._names: dict[str, str] = {}
        self._same: set[str] = set()  # keys that are their own column name

    def _rename(self, record: dict[str, Any]) -> dict[str, Any]:
        names = self._names
        for key in record:
            if key not in names:
                names[key] = column_name(key)
                if names[key] == key:
                    self._same.add(key)
        return {names[key]: value for key, value in record.items()}

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """Column name -> JSON value, as ``flatten`` minus the ``MISSING`` entries."""
        row: dict[str, Any] = {}
        declared = self._declared
        if self.top_level:
            if record.keys() <= self._same:
                row, declared = record.copy(), self._not_copied
            else:
                row = self._rename(record)
        for name, parts in declared:
            if len(parts) == 1:
                value = record.get(parts[0], MISSING)
            elif len(parts) == 2 and type(node := record.get(parts[0])) is dict:
                value = node.get(parts[1], MISSING)
            else:
                value = _dig_parts(record, parts)
            if value is MISSING:
                # flatten() assigns MISSING over a same-named top-level field, then drops it.
                row.pop(name, None)
            else:
                row[name] = value
        return row


def _dig_parts(node: Any, parts: list[str]) -> Any:
    """``dig`` with the path already split."""
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node
