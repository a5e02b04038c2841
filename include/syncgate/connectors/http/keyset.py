"""Re-anchor page / offset pagination on the cursor, so a live API's list may move under it.

Positions are not stable on a live API: a record updated while the extraction runs moves to
the end of the ``(cursor, key)`` order, a deleted one shifts every later record back, and a
plain "next page" then skips a record for good (the watermark moves past it). When the source
can filter by its cursor (``cursor_param``, inclusive ``>=``), each full page is followed by
the first page again, asked from the newest cursor value read so far (the anchor). Records at
exactly the anchor value that this run already read are skipped; the rest are new. Moved
records are read again in their new place (``syncgate.connectors.http.dedupe`` keeps the newest version).

When a full page does not move the anchor (more records share one cursor value than a page
holds), paging goes on by position within that anchor. Loops are detected per anchor.
This relies on the API ordering the list by the cursor, ascending (as its inclusive filter
suggests); a page out of that order, or an API that ignores the filter, is handled below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from syncgate.connectors.http.coerce import sort_key
from syncgate.connectors.http.records import MISSING, column_name, dig
from syncgate.errors import FatalError
from syncgate.state.watermarks import KEY_SEPARATOR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keyset:
    """Where a record's cursor and key are, and the query parameter that filters by cursor."""

    param: str
    cursor_path: str
    key_paths: tuple[str, ...]
    lower: str | None = None  # the window's start: the first anchor (sent as the filter anyway)
    upper: str | None = None  # a backfill window's end: no need to read past it

    def cursor(self, record: Any) -> Any:
        value = _field(record, self.cursor_path)
        return None if value is MISSING else value

    def key(self, record: Any) -> str | None:
        """The record's primary key as text; None when a part is absent (never skipped then)."""
        parts = [_field(record, path) for path in self.key_paths]
        if any(p is MISSING for p in parts):
            return None
        return KEY_SEPARATOR.join(str(p) for p in parts)


def _field(record: Any, path: str) -> Any:
    """A declared path, or a top-level field by its column name (``first-name`` -> ``first_name``)."""
    value = dig(record, path)
    if value is MISSING and isinstance(record, dict):
        return next((v for k, v in record.items() if column_name(str(k)) == path), MISSING)
    return value


def _getter(path: str) -> Any:
    """``Keyset.cursor`` for one path, with a dict lookup first for a top-level field."""
    if "." in path:
        return lambda record: _none(_field(record, path))

    def get(record: Any) -> Any:
        value = record.get(path, MISSING) if type(record) is dict else MISSING
        return value if value is not MISSING else _none(_field(record, path))

    return get


def _none(value: Any) -> Any:
    return None if value is MISSING else value


def initial_state(keyset: Keyset) -> dict[str, Any]:
    """The paginator state this module keeps (saved with each page's checkpoint).

    ``resume_page`` / ``resume_offset``: where positional paging would be, set on re-anchoring.
    """
    return {
        "keyset": True,
        "anchor": keyset.lower,
        "anchor_keys": [],
        "resume_page": None,
        "resume_offset": None,
    }


def step(keyset: Keyset, state: dict[str, Any], records: list[Any], first_page: int) -> list[Any]:
    """Move past one page of the ``page`` / ``offset`` style; return the records new to this run.

    ``state["done"]`` is already set by the positional rule (empty or short page).
    """
    anchor = state.get("anchor")
    anchor_at = sort_key(anchor) if anchor is not None else None
    seen = set(state.get("anchor_keys") or [])
    # The keys at the newest value: those read before at the anchor, then the records carrying
    # it (keys are only built for those, not for every record).
    newest, newest_at, newest_keys, at_newest = anchor, anchor_at, list(seen), []
    fresh: list[Any] = []
    below = 0
    previous = None
    cursor = _getter(keyset.cursor_path)
    for record in records:
        value = cursor(record)
        if value is None:
            fresh.append(record)  # no cursor to place it by: land it, the window decides
            continue
        at = sort_key(value)
        if previous is not None and at < previous:
            return _out_of_order(keyset, state, records)
        previous = at
        if anchor_at is not None and at <= anchor_at:
            if at == anchor_at and seen and keyset.key(record) in seen:
                continue  # read before in this run, at the anchor value (a None key never is)
            if at < anchor_at:
                below += 1
        fresh.append(record)
        if newest_at is None or at > newest_at:
            newest, newest_at, newest_keys, at_newest = value, at, [], [record]
        elif at == newest_at:
            at_newest.append(record)
    newest_keys += [key for key in map(keyset.key, at_newest) if key is not None]
    count = len(records)
    reanchored = state.get("resume_page") is not None
    if reanchored and state["page"] == first_page and state["offset"] == 0 and count and below == count:
        return _filter_ignored(keyset, state)
    if keyset.upper is not None and newest_at is not None and newest_at >= sort_key(keyset.upper):
        state["done"] = True  # ordered by cursor: the rest is past the window
    if newest_at is not None and (anchor_at is None or newest_at > anchor_at):
        # Re-anchor: ask again from the newest value read, from the first page.
        state["resume_page"], state["resume_offset"] = state["page"] + 1, state["offset"] + count
        state["anchor"], state["anchor_keys"] = newest, newest_keys
        state["page"], state["offset"] = first_page, 0
    else:
        # Nothing newer on a full page (many records share the anchor value): next position.
        state["anchor_keys"] = newest_keys
        state["page"] += 1
        state["offset"] += count
    return fresh


def _out_of_order(keyset: Keyset, state: dict[str, Any], records: list[Any]) -> list[Any]:
    if state.get("resume_page") is not None:  # re-anchored already: records may be lost
        raise FatalError(
            f"the API's list is not ordered by the cursor (values go down within one page), so paging "
            f"by `{keyset.param}` may have skipped records; remove `source.cursor_param` to page by position"
        )
    log.warning(
        "The API's list is not ordered by the cursor: paging by position (records moved or deleted "
        "during the extraction can be skipped)"
    )
    state["keyset"] = False
    state["page"] += 1
    state["offset"] += len(records)
    return records


def _filter_ignored(keyset: Keyset, state: dict[str, Any]) -> list[Any]:
    """A re-anchored first page entirely older than the anchor: the API ignores the filter."""
    log.warning(
        "The API ignored `%s` (a re-anchored page holds only older records): paging by position "
        "(records moved or deleted during the extraction can be skipped)",
        keyset.param,
    )
    state["keyset"] = False
    state["anchor"] = keyset.lower
    state["page"], state["offset"] = state["resume_page"], state["resume_offset"]
    state["done"] = False
    return []  # the records of a page read before
