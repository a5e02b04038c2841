"""In-memory record store with an ordered ``(updated_at, id)`` index.

Not locked itself: ``state.CrmState`` holds one lock around every store call. Records are
replaced, never mutated in place, so a page handed out under the lock can be encoded after it,
and a record's JSON can be cached against the record object itself.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from typing import Any

Record = dict[str, Any]
Key = tuple[str, int]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Index:
    """Keys ``(updated_at, id)`` kept sorted, so a window is a bisect plus a slice."""

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self.keys: list[Key] = sorted(keys)

    def add(self, key: Key) -> None:
        insort(self.keys, key)

    def discard(self, key: Key) -> None:
        at = bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]

    def start(self, since: str | None = None, after: Key | None = None) -> int:
        """Position of the first key with ``updated_at >= since`` and strictly after ``after``."""
        at = bisect_left(self.keys, (since,)) if since else 0
        if after is not None:
            at = max(at, bisect_right(self.keys, after))
        return at


class Store:
    """Records of one resource by id, plus an index over all of them and one per ``partition`` value."""

    def __init__(self, records: Iterable[Record] = (), partition: str | None = None) -> None:
        self.partition = partition
        self.records: dict[int, Record] = {r["id"]: r for r in records}
        # Tracked, not computed: max() over 200k ids on every create would make batches crawl.
        self.max_id = max(self.records, default=0)
        # id -> (record, its JSON): a repeated pass over 200k records re-encodes nothing.
        self._encoded: dict[int, tuple[Record, bytes]] = {}
        self.all = Index(self._key(r) for r in self.records.values())
        self.parts: dict[Any, Index] = {}
        if partition:
            groups: dict[Any, list[Key]] = {}
            for record in self.records.values():
                groups.setdefault(record.get(partition), []).append(self._key(record))
            self.parts = {value: Index(keys) for value, keys in groups.items()}

    @staticmethod
    def _key(record: Record) -> Key:
        return (record["updated_at"], record["id"])

    def __len__(self) -> int:
        return len(self.records)

    def get(self, record_id: int) -> Record | None:
        return self.records.get(record_id)

    def next_id(self) -> int:
        """An id above every id ever stored, so a deleted id is never handed out again."""
        return self.max_id + 1

    def index(self, part: Any = None) -> Index:
        """The index over every record, or over those whose partition field equals ``part``."""
        if part is None:
            return self.all
        return self.parts.get(part) or Index()

    def matching(self, index: Index, keep: Callable[[Record], bool]) -> Index:
        """A new index of the records of ``index`` that ``keep`` accepts (same order)."""
        found = Index()
        found.keys = [key for key in index.keys if keep(self.records[key[1]])]
        return found

    def put(self, record: Record) -> None:
        """Insert or replace a record (by id), keeping every index in step."""
        self.delete(record["id"])
        self.records[record["id"]] = record
        self.max_id = max(self.max_id, record["id"])
        key = self._key(record)
        self.all.add(key)
        if self.partition:
            self.parts.setdefault(record.get(self.partition), Index()).add(key)

    def delete(self, record_id: int) -> Record | None:
        old = self.records.pop(record_id, None)
        self._encoded.pop(record_id, None)
        if old is not None:
            key = self._key(old)
            self.all.discard(key)
            if self.partition:
                self.index(old.get(self.partition)).discard(key)
        return old

    def window(self, index: Index, start: int, size: int) -> list[Record]:
        """Up to ``size`` records from position ``start`` of ``index``."""
        return [self.records[key[1]] for key in index.keys[start : start + size]]

    def ordered(self) -> list[Record]:
        return [self.records[key[1]] for key in self.all.keys]

    def encode(self, rows: list[Record]) -> bytes:
        """``rows`` as a JSON array, from the per-record cache where the record is unchanged."""
        # Safe without the lock: dict get/set are atomic, and a stale entry never matches
        # because a changed record is a new object (at worst two threads encode one record).
        cache = self._encoded
        parts = []
        for record in rows:
            hit = cache.get(record["id"])
            if hit is None or hit[0] is not record:
                hit = cache[record["id"]] = (record, _encode(record).encode())
            parts.append(hit[1])
        return b"[" + b",".join(parts) + b"]"
