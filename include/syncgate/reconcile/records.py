"""Side rows <-> common records, and the small JSON-lines files the sync stages hand on.

A side row becomes a common record through the flow's ``fields`` (the side's column for each
common field) and ``map_values`` (the side's spelling of a value), then canonical values
(``values.canonical``); the way back spells the common value as the side does.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.reconcile.values import canonical, record_key, typed

if TYPE_CHECKING:
    from syncgate.spec.sync_model import SyncSpec


class SideMapping:
    """How one side's columns hold the common record."""

    def __init__(
        self, spec: SyncSpec, side: str, columns: dict[str, str], types: dict[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.side = side
        self.columns = columns  # common field -> side column
        self.types = types or {}  # side column -> PostgreSQL type, as the side's source landed it
        self.source = spec.side(side).source

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.columns)

    @property
    def key_columns(self) -> list[str]:
        return list(self.source.primary_key)

    @property
    def mints_keys(self) -> bool:
        """The side's primary key is not part of the common record: the side assigns it."""
        mapped = set(self.columns.values())
        return not all(c in mapped for c in self.key_columns)

    def to_common(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self.spec.inbound(
                self.side, name, canonical(typed(row.get(column), self.types.get(column)))
            )
            for name, column in self.columns.items()
        }

    def to_side(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            self.columns[name]: self.spec.outbound(self.side, name, value)
            for name, value in values.items()
            if name in self.columns
        }

    def side_key(self, row: dict[str, Any]) -> dict[str, Any]:
        return {c: canonical(typed(row.get(c), self.types.get(c))) for c in self.key_columns}

    def key_from_common(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """The side's key of a record from its common values, when the side does not mint it."""
        if self.mints_keys:
            return None
        by_column = self.to_side(values)
        return {c: by_column.get(c) for c in self.key_columns}

    def is_deleted(self, row: dict[str, Any]) -> bool:
        column = self.source.soft_delete_column
        if self.source.deletes != "soft" or not column:
            return False
        value = row.get(column)
        return value is not None and value is not False

    def change_time(self, row: dict[str, Any]) -> str | None:
        cursor = self.source.cursor
        if not cursor or row.get(cursor) is None:
            return None
        value = canonical(_instant(row[cursor]))
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:020d}"  # change times compare as text: numbers must sort as numbers
        return value if isinstance(value, str) else str(value)

    def record_key(self, values: dict[str, Any]) -> str:
        return record_key(values, self.spec.match_fields)


def _instant(value: Any) -> Any:
    """A timestamp landed as text, as the instant it names: change times of different sides
    compare as instants ("2025-05-01 10:00:00+00" from PostgreSQL, "2025-05-01T09:00:00Z" from an
    API), not as text, which would order them by their spelling."""
    if isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-":
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


_CHUNK_BYTES = 1 << 20


class LinesWriter:
    """Lands items as gzip-compressed JSON lines, written in large chunks."""

    def __init__(self, flow_id: str, batch_id: str, name: str) -> None:
        self.path = landing.batch_dir(flow_id, batch_id) / f"{name}.jsonl.gz"
        self._raw = landing.open_private(self.path)
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=3)
        self._chunk: list[bytes] = []
        self._size = 0
        self.count = 0

    def write(self, item: dict[str, Any]) -> None:
        line = json.dumps(item, separators=(",", ":")).encode() + b"\n"
        self._chunk.append(line)
        self._size += len(line)
        self.count += 1
        if self._size >= _CHUNK_BYTES:  # few, large writes: each goes through the storage layer
            self._flush()

    def close(self) -> tuple[str, int]:
        """Finish the file; returns its URL and the item count."""
        self._flush()
        self._gzip.close()
        self._raw.close()
        return str(self.path), self.count

    def _flush(self) -> None:
        if self._chunk:
            self._gzip.write(b"".join(self._chunk))
            self._chunk, self._size = [], 0


def write_lines(flow_id: str, batch_id: str, name: str, items: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """Land ``items`` as gzip-compressed JSON lines; returns the file's URL and the item count."""
    writer = LinesWriter(flow_id, batch_id, name)
    for item in items:
        writer.write(item)
    return writer.close()


def read_lines(url: str) -> Iterator[dict[str, Any]]:
    with landing.as_path(url).open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_rows(url: str) -> Iterator[dict[str, Any]]:
    """The rows of a landed Parquet file, as Python values."""
    for table in landing.read_batches(url):
        yield from table.to_pylist()
