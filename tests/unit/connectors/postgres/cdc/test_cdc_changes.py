"""The net effect of a slot's messages per key: last operation wins, key updates, skips, TRUNCATE."""

from __future__ import annotations

import struct

import pytest
from test_cdc_pgoutput import relation, tuple_data

from syncgate.connectors.postgres.cdc.changes import _reduce
from syncgate.connectors.postgres.cdc.lsn import to_int
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit
ORDERS = TableRef("public", "orders")


def txn(xid: int, commit: str, end: str, *changes: bytes) -> list[bytes]:
    return [
        b"B" + struct.pack(">QqI", to_int(commit), 0, xid),
        *changes,
        b"C\0" + struct.pack(">QQq", to_int(commit), to_int(end), 0),
    ]


def ins(key: str) -> bytes:
    return b"I" + struct.pack(">I", 7) + b"N" + tuple_data([key, "v"])


def upd(new: str, old: str | None = None) -> bytes:
    old_part = b"K" + tuple_data([old, None]) if old else b""
    return b"U" + struct.pack(">I", 7) + old_part + b"N" + tuple_data([new, "w"])


def dele(key: str) -> bytes:
    return b"D" + struct.pack(">I", 7) + b"K" + tuple_data([key, None])


def test_last_operation_per_key_wins_in_commit_order_and_key_updates_delete_the_old_key() -> None:
    messages = [
        relation(),
        *txn(1, "0/10", "0/20", ins("1"), ins("2")),
        *txn(2, "0/30", "0/40", upd("3", "2"), dele("1"), ins("1")),
    ]
    result = _reduce(messages, ORDERS, ["id"], None)
    assert list(result.ops.items()) == [(("2",), "delete"), (("3",), "upsert"), (("1",), "upsert")]
    assert (result.position, result.transactions, result.changes, result.xids) == ("0/40", 2, 6, [1, 2])


def test_transactions_before_the_watermark_are_skipped() -> None:
    messages = [relation(), *txn(1, "0/10", "0/20", ins("1")), *txn(2, "0/30", "0/40", ins("2"))]
    result = _reduce(messages, ORDERS, ["id"], "0/20")  # the first is promoted; the slot was not confirmed
    assert list(result.ops) == [("2",)] and result.skipped == 1 and result.position == "0/40"


def test_changes_of_other_tables_are_ignored() -> None:
    messages = [
        relation(8, "public", "other"),
        *txn(1, "0/10", "0/20", b"I" + struct.pack(">I", 8) + b"N" + tuple_data(["1", "x"])),
    ]
    result = _reduce(messages, ORDERS, ["id"], None)
    assert not result.ops and result.position == "0/20"


def test_a_truncate_forgets_earlier_changes_and_asks_for_the_key_set() -> None:
    truncate = b"T" + struct.pack(">I", 1) + b"\0" + struct.pack(">I", 7)
    messages = [relation(), *txn(1, "0/10", "0/20", ins("1")), *txn(2, "0/30", "0/40", truncate, ins("5"))]
    result = _reduce(messages, ORDERS, ["id"], None)
    assert result.truncated and list(result.ops) == [("5",)]


def test_a_key_column_missing_from_the_relation_is_a_clear_error() -> None:
    with pytest.raises(FatalError, match="no key column"):
        _reduce([relation(), *txn(1, "0/10", "0/20", ins("1"))], ORDERS, ["order_id"], None)
