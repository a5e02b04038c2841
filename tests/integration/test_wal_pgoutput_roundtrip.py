"""The pgoutput decoder against a real slot: random rows (NULLs, unicode, big TOASTed text) written
by PostgreSQL come back as the values the server prints; updates that leave TOAST alone say so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgate.connectors.postgres.cdc import pgoutput
from syncgate.connectors.postgres.cdc.pending import pending_lsn
from syncgate.connectors.postgres.cdc.status import slot_status

pytestmark = pytest.mark.integration

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
ROW = st.tuples(
    st.one_of(st.none(), TEXT),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.integers(0, 200_000)),  # length of a big value: TOASTed when long
)


@pytest.fixture
def slot(databases: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(databases["src"], autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, label text, n bigint, big text)")
        # Out of line, uncompressed, beyond ~2 kB: which values are TOASTed is then predictable.
        conn.execute("ALTER TABLE t ALTER big SET STORAGE EXTERNAL")
        conn.execute("CREATE PUBLICATION p FOR TABLE t")
        conn.execute("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
        yield conn
        conn.execute("SELECT pg_drop_replication_slot('s')")


def consume(conn: psycopg.Connection[Any]) -> list[pgoutput.Message]:
    found = conn.execute(
        "SELECT data FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'proto_version', '1', 'publication_names', 'p')"
    ).fetchall()
    return [pgoutput.decode(bytes(r[0])) for r in found]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=5))
def test_random_rows_decode_to_what_the_server_prints(slot: psycopg.Connection[Any], rows: list[Any]) -> None:
    ids = []
    with slot.transaction():
        for label, n, size in rows:
            big = None if size is None else ("é" + "x" * size)
            found = slot.execute(
                "INSERT INTO t (label, n, big) VALUES (%s, %s, %s) RETURNING id", (label, n, big)
            ).fetchone()
            ids.append(found[0])  # type: ignore[index]
    # Change every row but its big value: the log leaves an unchanged TOASTed value out.
    slot.execute("UPDATE t SET n = coalesce(n, 0) / 2 WHERE id = ANY(%s)", (ids,))
    printed = {
        r[0]: r
        for r in slot.execute(
            "SELECT id::text, label, n::text, big, pg_column_size(big) FROM t WHERE id = ANY(%s)", (ids,)
        )
    }
    messages = consume(slot)
    inserts = [m for m in messages if isinstance(m, pgoutput.Insert)]
    updates = [m for m in messages if isinstance(m, pgoutput.Update)]
    assert [m.new[0] for m in inserts] == [str(i) for i in ids]
    for insert, (label, n, _) in zip(inserts, rows, strict=True):
        assert insert.new[1] == label and insert.new[2] == (None if n is None else str(n))
        assert insert.new[3] == printed[insert.new[0]][3]
    for update in updates:
        _, _, halved, big, _ = printed[update.new[0]]
        assert update.new[2] == halved and update.old is None
        # Stored out of line (TOASTed): not in the log; inline: the value itself.
        if big is not None and len(big.encode()) > 2100:
            assert update.new[3] is pgoutput.UNCHANGED
        elif big is None or len(big.encode()) < 1800:
            assert update.new[3] == big
    assert isinstance(messages[0], pgoutput.Begin) and isinstance(messages[-1], pgoutput.Commit)
    assert slot_status(slot, "s").pending_since is None  # consumed: nothing waits


def test_pending_lsn_names_the_first_waiting_transaction_and_respects_after(
    slot: psycopg.Connection[Any],
) -> None:
    assert pending_lsn(slot, "s", "p", None) is None
    slot.execute("INSERT INTO t (label) VALUES ('a')")
    first = pending_lsn(slot, "s", "p", None)
    assert first is not None
    assert pending_lsn(slot, "s", "p", first) is None  # nothing beyond the first transaction
    slot.execute("INSERT INTO t (label) VALUES ('b')")
    second = pending_lsn(slot, "s", "p", first)
    assert second is not None and second != first
