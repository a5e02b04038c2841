"""Batch fencing: an older batch never lands after a newer one.

A watermark check only fences runs whose batch moves the watermark. A flow without a cursor, a
backfill's slice, or a run started by hand next to a scheduled one would otherwise let an older
snapshot of the source promote after a newer one and undo it (deleted rows back, updates
reverted). So every read takes the next number of the flow's batch sequence, and every promote
checks it under the flow's lock:

- reads of one flow are serialised (a session advisory lock held from taking the number until
  the source has been read), so a larger number always means a snapshot at least as new;
- promote refuses a batch whose number is below the newest one already promoted, and records
  its own.

A sync flow's plan is built from every side's read: its *basis* is each side's number, and a
plan is stale when any side has promoted a newer read since.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from syncgate.db.connect import connect
from syncgate.errors import BatchSuperseded, ConcurrentRunError, FlowBusyError

if TYPE_CHECKING:
    import psycopg

# How long a read (or a side's write) waits for another run's before it gives up.
LOCK_TIMEOUT = "15min"


@contextmanager
def serialised_read(state_conn_id: str, flow_id: str) -> Iterator[int]:
    """Hold the flow's read lock while the caller reads the source; yields the batch's number."""
    with _session_lock(
        state_conn_id, f"syncgate.read:{flow_id}", f"reading the source of flow {flow_id!r}"
    ) as conn:
        yield take_number(conn, flow_id)


@contextmanager
def exclusive_write(state_conn_id: str, view_id: str) -> Iterator[None]:
    """Hold a side's write lock across a write made outside promote's transaction (an API side),
    so a newer plan cannot land between this one's check and its settle."""
    with _session_lock(state_conn_id, f"syncgate.write:{view_id}", f"writing {view_id!r}"):
        yield


@contextmanager
def _session_lock(state_conn_id: str, name: str, doing: str) -> Iterator[psycopg.Connection[Any]]:
    """A session advisory lock on its own connection: released when the block ends, and by
    PostgreSQL itself when the process dies."""
    from psycopg.errors import LockNotAvailable

    with connect(state_conn_id, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        # The session sits idle while the caller works on other connections: no idle timeout may
        # end it (releasing the lock mid-read), and the server notices a vanished host within a
        # minute (keepalives), not after the kernel's two hours, so the lock does not outlive it.
        conn.execute("SET idle_session_timeout = 0")
        conn.execute(
            "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
        )
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        except LockNotAvailable:
            raise FlowBusyError(
                f"another run has been {doing} for {LOCK_TIMEOUT}; this run stopped without touching it "
                "and its task's retries try again"
            ) from None
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def take_number(conn: psycopg.Connection[Any], flow_id: str) -> int:
    """The next number of the flow's batch sequence (committed at once: numbers are never reused)."""
    row = conn.execute(
        """
        INSERT INTO syncgate.batch_fences AS f (flow_id, taken) VALUES (%s, 1)
        ON CONFLICT (flow_id) DO UPDATE SET taken = f.taken + 1, updated_at = now()
        RETURNING taken
        """,
        (flow_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def require_newest(
    conn: psycopg.Connection[Any],
    basis: Mapping[str, int],
    *,
    flow_id: str,
    backfill: str | None = None,
    planned: int | None = None,
) -> None:
    """Refuse a batch (or a sync plan) read before a batch of the same flow that already promoted.

    Call with the flow's promote lock held, in the transaction that writes. ``backfill`` names
    the interval of a backfill run's batch: scheduled runs never read it again, so its refusal
    says to rerun that run rather than to wait for the next one. ``planned``: the newest number
    of the flow whose push to an API has been planned (its changes may be reaching the API
    already, ``connectors.http.push``); it fences like a promoted one.
    """
    if not basis:
        return
    rows = conn.execute(
        "SELECT flow_id, promoted, backfilled FROM syncgate.batch_fences WHERE flow_id = ANY(%s)",
        (list(basis),),
    ).fetchall()
    for view_id, promoted, backfilled in rows:
        number = basis[view_id]
        done, label = "been promoted", "promoted"
        if backfill is None and backfilled is not None and (promoted is None or backfilled > promoted):
            promoted, done, label = backfilled, "been promoted by a backfill", "backfilled"
        if view_id == flow_id and planned is not None and (promoted is None or planned > promoted):
            promoted, done, label = planned, "started pushing to the API", "pushing"
        if promoted is not None and promoted > number:
            where = "" if view_id == flow_id else f" (side {view_id!r})"
            error = ConcurrentRunError if backfill else BatchSuperseded
            raise error(
                f"flow {flow_id!r}: this batch was read before a newer one that has already {done}"
                f"{where}: batch #{number}, newest {label} #{promoted}. Promoting it could undo newer data "
                "(bring back rows deleted since), so nothing was written; "
                + (
                    f"scheduled runs do not read this backfill's interval ({backfill}) again: rerun this "
                    "backfill run (clear its extract task)"
                    if backfill
                    else "the newer batch carries every change of this one"
                ),
                **({} if backfill else {"newest": int(promoted)}),
            )


def newest_promoted(conn: psycopg.Connection[Any], flow_id: str) -> int | None:
    """The largest number of the flow's batches that promoted (None: none yet)."""
    row = conn.execute("SELECT promoted FROM syncgate.batch_fences WHERE flow_id = %s", (flow_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def record_backfilled(conn: psycopg.Connection[Any], flow_id: str, number: int) -> None:
    """Record that a backfill's batch reached the target (in promote's transaction).

    It fences the flow's scheduled batches read before it: their key sets predate the rows the
    backfill brought (a late record with an old cursor), and a scheduled run never reads those
    rows again, so an older batch's hard deletes would remove them for good. Backfill batches do
    not fence each other (``record_promoted``).
    """
    conn.execute(
        """
        INSERT INTO syncgate.batch_fences AS f (flow_id, taken, backfilled) VALUES (%s, %s, %s)
        ON CONFLICT (flow_id) DO UPDATE
        SET backfilled = GREATEST(f.backfilled, EXCLUDED.backfilled), updated_at = now()
        """,
        (flow_id, number, number),
    )


def record_promoted(conn: psycopg.Connection[Any], basis: Mapping[str, int]) -> None:
    """Record that data read as of ``basis`` reached the target (in promote's transaction).

    Not for a backfill's batch (``record_backfilled``): a slice of the past upserts only rows that
    are not newer in the target and deletes nothing, so a newer batch landing after it cannot be
    undone by it, and the slices of one backfill (which Airflow runs side by side) land in any
    order.
    """
    for view_id, number in basis.items():
        conn.execute(
            """
            INSERT INTO syncgate.batch_fences AS f (flow_id, taken, promoted) VALUES (%s, %s, %s)
            ON CONFLICT (flow_id) DO UPDATE
            SET promoted = GREATEST(f.promoted, EXCLUDED.promoted), updated_at = now()
            """,
            (view_id, number, number),
        )
