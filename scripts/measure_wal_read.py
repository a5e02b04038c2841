"""Measure reading a slot's changes: SQL slot functions (psycopg 3) vs psycopg2's replication connection.

    PYTHONPATH=include python scripts/measure_wal_read.py postgresql://syncgate@127.0.0.1:PORT/postgres [CHANGES]

Creates a throwaway database, a table, a publication and two slots; writes CHANGES single-row
updates in transactions of 100; then reads every change both ways (decoding each message with
``syncgate.connectors.postgres.cdc.pgoutput``) and prints the wall time of each. Drops everything.
"""

from __future__ import annotations

import sys
import time

from syncgate.connectors.postgres.cdc import pgoutput


def main(url: str, changes: int) -> None:
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS sg_wal_measure WITH (FORCE)")
        admin.execute("CREATE DATABASE sg_wal_measure")
    db = f"{base}/sg_wal_measure"
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric, at timestamptz)")
            conn.execute("INSERT INTO t SELECT g, 'v' || g, g, now() FROM generate_series(1, 10000) g")
            conn.execute("CREATE PUBLICATION p FOR TABLE t")
            for name in ("s_sql", "s_repl"):
                conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
            started = time.perf_counter()
            for first in range(0, changes, 100):
                conn.execute(
                    "UPDATE t SET v = md5(random()::text), n = n + 1, at = now() WHERE id BETWEEN %s AND %s",
                    (first % 10000 + 1, first % 10000 + 100),
                )
            print(f"wrote {changes} changes in {time.perf_counter() - started:.2f}s")
            for limit in (None, 10_000):
                started = time.perf_counter()
                messages = 0
                while True:
                    rows = conn.execute(
                        "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes('s_sql', NULL, %s, "
                        "'proto_version', '1', 'publication_names', 'p')",
                        (limit,),
                    ).fetchall()
                    for _, data in rows:
                        pgoutput.decode(bytes(data))
                    messages += len(rows)
                    break  # a peek does not consume; one call measures the read
                print(
                    f"SQL peek (upto_nchanges={limit}): {len(rows)} messages in {time.perf_counter() - started:.2f}s"
                )
        _replication(db, changes)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS sg_wal_measure WITH (FORCE)")


def _replication(db: str, changes: int) -> None:
    import psycopg
    import psycopg2  # type: ignore[import-untyped]
    import psycopg2.extras  # type: ignore[import-untyped]

    conn = psycopg2.connect(db, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    with psycopg.connect(db) as plain:
        end = plain.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0]  # type: ignore[index]
    high, low = end.split("/")
    stop_at = (int(high, 16) << 32) | int(low, 16)
    started = time.perf_counter()
    cur.start_replication(
        slot_name="s_repl", decode=False, options={"proto_version": "1", "publication_names": "p"}
    )
    messages = 0
    while True:
        msg = cur.read_message()
        if msg is None:
            if cur.wal_end >= stop_at and messages:
                break
            time.sleep(0.001)
            continue
        pgoutput.decode(msg.payload)
        messages += 1
        if msg.data_start >= stop_at:
            break
    print(f"replication connection: {messages} messages in {time.perf_counter() - started:.2f}s")
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
