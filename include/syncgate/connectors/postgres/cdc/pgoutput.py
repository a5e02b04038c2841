"""A decoder of the ``pgoutput`` logical replication messages, protocol version 1.

Each row the slot functions return (or each replication-protocol ``XLogData``) holds one
message. Tuple values are PostgreSQL's text output of their type; ``None`` is SQL NULL and
``UNCHANGED`` a TOASTed value the update did not touch (the log does not carry it).
Layout: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from syncgate.connectors.postgres.cdc.lsn import to_text
from syncgate.errors import FatalError


class _Unchanged:
    """A TOASTed column an update left as it was: its value is not in the log."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
Value = str | None | _Unchanged
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DecodeError(FatalError):
    """A message that is not pgoutput protocol 1 (or is cut short)."""


@dataclass(frozen=True)
class Begin:
    final_lsn: str  # the transaction's commit record
    committed_at: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: str  # where the commit record starts
    end_lsn: str  # just past it: a slot confirmed here has consumed the transaction
    committed_at: datetime


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    is_key: bool  # part of the replica identity


@dataclass(frozen=True)
class Relation:
    relation_id: int
    schema: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: tuple[Value, ...]


@dataclass(frozen=True)
class Update:
    relation_id: int
    new: tuple[Value, ...]
    # The old key ('K', the key changed) or whole old row ('O', REPLICA IDENTITY FULL), else None.
    old: tuple[Value, ...] | None = None


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old: tuple[Value, ...]  # the key columns ('K') or the whole row ('O'); others None


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]
    cascade: bool = False
    restart_identity: bool = False


@dataclass(frozen=True)
class Other:
    """A message this reader does not need (origin, type, logical message)."""

    tag: str
    body: bytes = field(repr=False, default=b"")


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other


def decode(data: bytes) -> Message:
    """One pgoutput message."""
    if not data:
        raise DecodeError("empty pgoutput message")
    reader = _Reader(memoryview(data))
    tag = chr(reader.byte())
    try:
        message = _DECODERS[tag](reader) if tag in _DECODERS else Other(tag, bytes(data[1:]))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed pgoutput {tag!r} message: {exc}") from None
    return message


def _begin(r: _Reader) -> Begin:
    return Begin(r.lsn(), r.timestamp(), r.int32())


def _commit(r: _Reader) -> Commit:
    r.byte()  # flags: unused by protocol 1
    return Commit(r.lsn(), r.lsn(), r.timestamp())


def _relation(r: _Reader) -> Relation:
    relation_id, schema, name = r.int32(), r.string(), r.string()
    identity = chr(r.byte())
    columns = []
    for _ in range(r.int16()):
        flags, column = r.byte(), r.string()
        type_oid, _typmod = r.int32(), r.int32()
        columns.append(Column(column, type_oid, bool(flags & 1)))
    return Relation(relation_id, schema, name, identity, tuple(columns))


def _insert(r: _Reader) -> Insert:
    relation_id = r.int32()
    r.expect("N")
    return Insert(relation_id, r.tuple())


def _update(r: _Reader) -> Update:
    relation_id = r.int32()
    kind = chr(r.byte())
    old = None
    if kind in ("K", "O"):
        old = r.tuple()
        kind = chr(r.byte())
    if kind != "N":
        raise DecodeError(f"update: expected a new tuple ('N'), found {kind!r}")
    return Update(relation_id, r.tuple(), old)


def _delete(r: _Reader) -> Delete:
    relation_id = r.int32()
    kind = chr(r.byte())
    if kind not in ("K", "O"):
        raise DecodeError(f"delete: expected an old key or row ('K' / 'O'), found {kind!r}")
    return Delete(relation_id, r.tuple())


def _truncate(r: _Reader) -> Truncate:
    count, options = r.int32(), r.byte()
    return Truncate(tuple(r.int32() for _ in range(count)), bool(options & 1), bool(options & 2))


_DECODERS: dict[str, Callable[[_Reader], Message]] = {
    "B": _begin,
    "C": _commit,
    "R": _relation,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
}


class _Reader:
    """Big-endian reads over one message."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> memoryview:
        if self.at + size > len(self.data):
            raise DecodeError(f"message cut short: wanted {size} bytes at {self.at} of {len(self.data)}")
        part = self.data[self.at : self.at + size]
        self.at += size
        return part

    def byte(self) -> int:
        return self.take(1)[0]

    def expect(self, tag: str) -> None:
        found = chr(self.byte())
        if found != tag:
            raise DecodeError(f"expected {tag!r}, found {found!r}")

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def lsn(self) -> str:
        return to_text(int(struct.unpack(">Q", self.take(8))[0]))

    def timestamp(self) -> datetime:
        return _EPOCH + timedelta(microseconds=int(struct.unpack(">q", self.take(8))[0]))

    def string(self) -> str:
        end = bytes(self.data[self.at :]).find(b"\0")
        if end < 0:
            raise DecodeError("unterminated string")
        text = bytes(self.take(end)).decode()
        self.at += 1
        return text

    def tuple(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.int16()):
            kind = chr(self.byte())
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind == "t":
                values.append(bytes(self.take(self.int32())).decode())
            else:  # 'b' (binary) exists only from protocol 2 with the binary option
                raise DecodeError(f"unknown tuple value kind {kind!r}")
        return tuple(values)
