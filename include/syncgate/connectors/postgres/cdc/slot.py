"""A flow's publication and logical slot: create (idempotent), drop, check, advance.

The publication is ``FOR TABLE`` the source table only, so the slot decodes nothing else into
messages. Creating a logical slot needs the REPLICATION attribute (or superuser); creating a
publication needs ownership of the table (or superuser).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

T = TypeVar("T")
PLUGIN = "pgoutput"
# One session at a time may use a slot: a pending check (the wal trigger) and a run's read or
# advance can meet; the other waits this long before giving up.
SLOT_BUSY_SECONDS = 30.0


@dataclass(frozen=True)
class SetupResult:
    publication_created: bool
    slot_created: bool
    slot_lsn: str | None  # where the new slot starts (None: it existed)


def setup(
    conn: psycopg.Connection[Any], table: TableRef, key: list[str], slot: str, publication: str
) -> SetupResult:
    """Create the publication and slot when missing; check the table's replica identity first.

    ``conn`` must be in autocommit mode: a logical slot cannot be created inside a transaction
    that has written.
    """
    from psycopg import sql

    check_replica_identity(conn, table, key)
    created_pub = False
    row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()
    if row is None:
        # A partitioned table's changes are published under its own name, not its partitions'.
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)").format(
                sql.Identifier(publication), table.sql
            )
        )
        created_pub = True
    else:
        published = conn.execute(
            "SELECT 1 FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s AND tablename = %s",
            (publication, table.schema, table.name),
        ).fetchone()
        if published is None:  # the flow now reads another table: publish that one
            conn.execute(
                sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(publication), table.sql)
            )
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = true)").format(
                sql.Identifier(publication)
            )
        )
    existing = conn.execute(
        "SELECT plugin, slot_type, database FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    if existing is not None:
        plugin, kind, database = existing
        current = conn.execute("SELECT current_database()").fetchone()
        if (plugin, kind) != (PLUGIN, "logical") or (current and database != current[0]):
            raise FatalError(
                f"replication slot {slot!r} exists but is not a logical {PLUGIN} slot of this database "
                f"(plugin {plugin}, type {kind}, database {database}); drop it or rename the flow"
            )
        return SetupResult(created_pub, False, None)
    made = conn.execute(
        "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (slot, PLUGIN)
    ).fetchone()
    return SetupResult(created_pub, True, made[0] if made else None)


def drop(conn: psycopg.Connection[Any], slot: str, publication: str) -> list[str]:
    """Drop the slot and the publication when they exist; says what was dropped."""
    from psycopg import sql

    dropped = []
    if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
        with_slot(lambda: conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,)))
        dropped.append(f"replication slot {slot}")
    if conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)).fetchone():
        conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(publication)))
        dropped.append(f"publication {publication}")
    return dropped


def check_replica_identity(conn: psycopg.Connection[Any], table: TableRef, key: list[str]) -> None:
    """The log must name a deleted or re-keyed row by the flow's key: the table's replica
    identity has to cover every key column, or say what to run."""
    row = conn.execute(
        "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (table.schema, table.name),
    ).fetchone()
    if row is None:
        raise FatalError(f"source table {table} does not exist")
    oid, identity = row
    children = conn.execute(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent "
        "WHERE i.inhparent = %s AND c.relkind = 'r'",
        (oid,),
    ).fetchone()
    if children and children[0]:
        # Rows of inheritance children are logged under the children's names: the flow would
        # see none of their changes. (Declarative partitions are published under the root.)
        raise FatalError(
            f"source table {table} has {children[0]} inheritance child table(s): log-based capture reads "
            "one table's changes; capture each table in its own flow, or use declarative partitioning"
        )
    if identity == "f":
        return
    covered: set[str] = set()
    if identity in ("d", "i"):
        # DEFAULT: the primary key; INDEX: the index named by ALTER TABLE ... REPLICA IDENTITY.
        flag = "indisprimary" if identity == "d" else "indisreplident"
        covered = {
            r[0]
            for r in conn.execute(
                f"SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                f"AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.{flag}",
                (oid,),
            )
        }
    missing = [c for c in key if c not in covered]
    if missing:
        what = {"d": "DEFAULT (its primary key)", "i": "USING INDEX", "n": "NOTHING"}[identity]
        raise FatalError(
            f"source table {table} has REPLICA IDENTITY {what}, which does not cover the flow's key "
            f"column(s) {', '.join(missing)}: the log could not say which row a delete removed. Run "
            f"`ALTER TABLE {table} REPLICA IDENTITY FULL` (or give it a primary key / unique index on "
            f"{', '.join(key)} and use REPLICA IDENTITY DEFAULT / USING INDEX), then set up again"
        )


def advance(conn: psycopg.Connection[Any], slot: str, position: str) -> None:
    """Confirm the slot up to ``position``: the WAL before it may go. Never moves it back."""
    row = conn.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (position, slot),
    ).fetchone()
    if row is None:
        raise FatalError(f"replication slot {slot!r} is missing; run `python -m syncgate cdc setup`")
    if not row[0]:
        with_slot(
            lambda: conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, position))
        )


def with_slot(action: Callable[[], T], wait: float = SLOT_BUSY_SECONDS) -> T:
    """Run ``action`` on a slot, waiting while another session holds it (``ObjectInUse``)."""
    import psycopg

    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        try:
            return action()
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
