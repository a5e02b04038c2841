"""Versioned migrations of the ``syncgate`` state schema: applied once, under a lock, recorded.

Each state database records the steps applied to it in ``syncgate.schema_version``; its
version is the newest one. A task checks that version with one small read and issues no DDL
when it is current (DDL takes table locks: run from every task it deadlocked with other tasks'
promotes, issue 14). A database behind the code is migrated step by step, one transaction per
step, under the advisory lock the earlier start-up DDL took, so concurrent first runs (and
tasks of an older syncgate still running during a deploy) wait instead of racing. A database
ahead of the code was migrated by a newer syncgate: it is refused, never "downgraded".

Operators migrate at deploy time with ``python -m syncgate state migrate``; the steps
themselves are listed in ``syncgate.state.schema`` (a new step = one entry appended there).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# The key syncgate's start-up DDL has always been serialised with: older tasks still running
# during an upgrade take it too, so they never run their DDL in the middle of a migration.
LOCK_KEY = "syncgate.ensure_state_schema"

_VERSION_DDL = """
CREATE SCHEMA IF NOT EXISTS syncgate;
CREATE TABLE IF NOT EXISTS syncgate.schema_version (
    version      integer PRIMARY KEY,
    description  text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE syncgate.schema_version IS
    'Migrations of the syncgate state schema applied to this database (syncgate.state.schema.STEPS); '
    'the newest is its version. Written only by syncgate under an advisory lock.';
"""


@dataclass(frozen=True)
class Migration:
    """One numbered step: its DDL runs in one transaction, together with its version row."""

    version: int
    description: str
    sql: str


class StateSchemaTooNew(FatalError):
    """The state database was migrated by a newer syncgate: this one refuses to touch it."""


def latest(steps: Sequence[Migration]) -> int:
    """The version the code brings a database to (steps are numbered 1, 2, ... in order)."""
    return steps[-1].version if steps else 0


def check_steps(steps: Sequence[Migration]) -> None:
    """Steps must be numbered 1, 2, 3, ... with no gap: a version means the same DDL everywhere."""
    numbers = [s.version for s in steps]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"state migrations must be numbered 1, 2, 3, ... in order, not {numbers}")


def current_version(conn: psycopg.Connection[Any]) -> int:
    """The database's version; 0 when it has no version table (empty, or made by an older syncgate)."""
    # pg_class read as a table, not to_regclass(): a name lookup may answer from the session's
    # catalog cache, which an advisory lock does not refresh, so a caller that looked before
    # waiting on the lock would miss the table another process just created.
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'syncgate' AND c.relname = 'schema_version')"
    ).fetchone()
    if not (row and row[0]):
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM syncgate.schema_version").fetchone()
    return int(row[0]) if row else 0


def ensure_current(conn: psycopg.Connection[Any], steps: Sequence[Migration]) -> None:
    """The hot-path check of every task: one read when the database is current, no DDL.

    Behind: migrated here (under the lock). Ahead: ``StateSchemaTooNew``. A connection that
    was idle is left idle (the read's transaction is ended), one inside a transaction is left in it.

    Raises:
        StateSchemaTooNew: a newer syncgate migrated the database.
    """
    from psycopg import pq

    idle = conn.info.transaction_status == pq.TransactionStatus.IDLE
    version = current_version(conn)
    if idle:
        conn.commit()
    if version == latest(steps):
        return
    if version > latest(steps):
        raise too_new(conn, version, steps)
    migrate(conn, steps)


def migrate(conn: psycopg.Connection[Any], steps: Sequence[Migration]) -> list[int]:
    """Apply the steps the database lacks, each in its own transaction under the advisory lock.

    The version is read again once the lock is held: whoever waited while another process
    migrated finds the work done and applies nothing. Returns the versions applied here.

    Raises:
        StateSchemaTooNew: a newer syncgate migrated the database.
    """
    check_steps(steps)
    applied: list[int] = []
    for step in steps:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))
            version = current_version(conn)
            if version > latest(steps):
                raise too_new(conn, version, steps)
            if version >= step.version:
                continue
            if version == 0:  # an empty database, or one made by a syncgate without versions
                conn.execute(_VERSION_DDL)
            conn.execute(step.sql)
            conn.execute(
                "INSERT INTO syncgate.schema_version (version, description) VALUES (%s, %s)",
                (step.version, step.description),
            )
        applied.append(step.version)
        log.info("State schema of database %r: applied migration %d (%s)", _dbname(conn),
                 step.version, step.description)  # fmt: skip
    return applied


def too_new(conn: psycopg.Connection[Any], version: int, steps: Sequence[Migration]) -> StateSchemaTooNew:
    return StateSchemaTooNew(
        f"the syncgate state schema of database {_dbname(conn)!r} is at version {version}, newer than "
        f"this syncgate knows (up to {latest(steps)}): a newer syncgate migrated it. Run that "
        "version (or newer); syncgate does not downgrade a state schema, and refuses to use one "
        "it does not know"
    )


def _dbname(conn: psycopg.Connection[Any]) -> str:
    return str(conn.info.dbname)
