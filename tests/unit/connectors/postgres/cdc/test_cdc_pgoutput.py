"""The pgoutput decoder on messages built byte by byte as PostgreSQL 15 writes them."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncgate.connectors.postgres.cdc import pgoutput
from syncgate.connectors.postgres.cdc.lsn import to_int

pytestmark = pytest.mark.unit


def tuple_data(values: list[str | None | object]) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is pgoutput.UNCHANGED:
            out += b"u"
        else:
            raw = str(value).encode()
            out += b"t" + struct.pack(">I", len(raw)) + raw
    return out


def relation(relid: int = 7, schema: str = "public", name: str = "orders") -> bytes:
    cols = [(1, "id", 20), (0, "note", 25)]
    body = (
        struct.pack(">I", relid)
        + schema.encode()
        + b"\0"
        + name.encode()
        + b"\0"
        + b"d"
        + struct.pack(">h", len(cols))
    )
    for flags, col, oid in cols:
        body += bytes([flags]) + col.encode() + b"\0" + struct.pack(">Ii", oid, -1)
    return b"R" + body


def test_begin_and_commit_carry_positions_and_times() -> None:
    begin = pgoutput.decode(b"B" + struct.pack(">QqI", to_int("1/A0"), 1_000_000, 42))
    assert begin == pgoutput.Begin("1/A0", begin.committed_at, 42)
    assert begin.committed_at.isoformat() == "2000-01-01T00:00:01+00:00"
    commit = pgoutput.decode(b"C\0" + struct.pack(">QQq", to_int("1/A0"), to_int("1/D8"), 0))
    assert isinstance(commit, pgoutput.Commit) and (commit.commit_lsn, commit.end_lsn) == ("1/A0", "1/D8")


def test_relation_names_its_columns_and_which_are_the_key() -> None:
    message = pgoutput.decode(relation())
    assert isinstance(message, pgoutput.Relation)
    assert (message.schema, message.name, message.replica_identity) == ("public", "orders", "d")
    assert [(c.name, c.is_key) for c in message.columns] == [("id", True), ("note", False)]


def test_update_with_old_key_delete_and_truncate() -> None:
    update = pgoutput.decode(
        b"U"
        + struct.pack(">I", 7)
        + b"K"
        + tuple_data(["1", None])
        + b"N"
        + tuple_data(["2", pgoutput.UNCHANGED])
    )
    assert update == pgoutput.Update(7, ("2", pgoutput.UNCHANGED), ("1", None))
    delete = pgoutput.decode(b"D" + struct.pack(">I", 7) + b"K" + tuple_data(["3", None]))
    assert delete == pgoutput.Delete(7, ("3", None))
    truncate = pgoutput.decode(b"T" + struct.pack(">I", 2) + b"\x01" + struct.pack(">II", 7, 8))
    assert truncate == pgoutput.Truncate((7, 8), cascade=True, restart_identity=False)


@given(st.lists(st.one_of(st.none(), st.just(pgoutput.UNCHANGED), st.text()), max_size=30))
def test_insert_tuples_decode_to_what_was_encoded(values: list[str | None | object]) -> None:
    message = pgoutput.decode(b"I" + struct.pack(">I", 9) + b"N" + tuple_data(values))
    assert message == pgoutput.Insert(9, tuple(values))


@pytest.mark.parametrize(
    "data",
    [b"", b"I\0\0", b"I" + struct.pack(">I", 1) + b"X", b"D" + struct.pack(">I", 1) + b"N" + tuple_data([]),
     b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"b"],
)  # fmt: skip
def test_malformed_messages_raise_a_decode_error(data: bytes) -> None:
    with pytest.raises(pgoutput.DecodeError):
        pgoutput.decode(data)


def test_messages_this_reader_does_not_need_are_kept_as_other() -> None:
    assert pgoutput.decode(b"Yabc") == pgoutput.Other("Y", b"abc")
