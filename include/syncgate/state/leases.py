"""Run leases: how the flow's next run tells a dead run from a live one, whatever the executor.

A stage's task renews its run's lease in ``syncgate.sync_runs`` while it works (``heartbeat``)
and, when it ends, extends it over the hand-off to the run's next task. A run still marked
``running`` whose lease has expired was killed (kill -9, a lost worker, a database restart in
the middle of its transaction): ``reap`` marks it failed, and the caller removes what it left
(``pipeline/leftovers.py``). An audit row written before leases existed has none: it counts
as expired once the hand-off has passed since it started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate import settings

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_RENEW = (
    "UPDATE syncgate.sync_runs SET heartbeat_at = now(), "
    "lease_expires_at = now() + make_interval(secs => %s) "
    "WHERE flow_id = %s AND run_id = %s AND status = 'running'"
)


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    batch_id: str | None
    staging_table: str | None
    error: str


def renew(conn: psycopg.Connection[Any], flow_id: str, run_id: str, seconds: float | None = None) -> None:
    """Extend the run's lease by ``seconds`` (default: the lease) from now (caller's transaction)."""
    conn.execute(_RENEW, (settings.run_lease_seconds() if seconds is None else seconds, flow_id, run_id))


def reap(conn: psycopg.Connection[Any], flow_id: str, keep: str, *, leaseless: bool = True) -> list[DeadRun]:
    """Mark the flow's runs whose lease expired failed (``abandoned: no heartbeat since ...``);
    returns them. ``keep`` (the calling run) is never reaped: it is alive by definition.

    ``leaseless=False`` leaves rows without a lease (written before leases existed) alone: only
    the flow's own next run judges those, by their age.
    """
    rows = conn.execute(
        "UPDATE syncgate.sync_runs SET status = 'failed', finished_at = now(), lease_expires_at = NULL, "
        "error = 'abandoned: no heartbeat since ' "
        "|| to_char(coalesce(heartbeat_at, started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
        "|| ' UTC (its task was killed or lost its worker or database); its staging and landed files "
        "are removed' "
        "WHERE flow_id = %s AND run_id <> %s AND status = 'running' "
        "AND coalesce(lease_expires_at, started_at + make_interval(secs => %s)) < now() "
        "AND (%s OR lease_expires_at IS NOT NULL) "
        "RETURNING run_id, batch_id, staging_table, error",
        (flow_id, keep, settings.run_handoff_seconds(), leaseless),
    ).fetchall()
    dead = [DeadRun(*row) for row in rows]
    for run in dead:
        log.warning("Flow %s: run %s is dead (%s)", flow_id, run.run_id, run.error)
    return dead


def live_runs(conn: psycopg.Connection[Any], flow_id: str, keep: str) -> list[tuple[str, str | None]]:
    """(run id, batch id) of the flow's other runs that still hold a lease."""
    return [
        (str(run_id), batch_id)
        for run_id, batch_id in conn.execute(
            "SELECT run_id, batch_id FROM syncgate.sync_runs WHERE flow_id = %s AND run_id <> %s "
            "AND status = 'running' "
            "AND coalesce(lease_expires_at, started_at + make_interval(secs => %s)) >= now()",
            (flow_id, keep, settings.run_handoff_seconds()),
        ).fetchall()
    ]


@contextmanager
def heartbeat(state_conn_id: str, flow_id: str, run_id: str) -> Iterator[None]:
    """Renew the run's lease from a thread while the body runs, then extend it over the hand-off.

    The thread has its own connection: the stage's transactions never wait for it, nor it for
    them. A failed renewal (the database restarting) is logged and tried again next beat; if
    the database stays away longer than the lease, the run may be declared dead, and a stage
    that cannot reach its database is failing anyway.
    """
    # The first renewal runs here, before the thread starts: it imports what a renewal needs
    # (psycopg, the Postgres provider's hook). Importing a module in the thread while the stage
    # imports it too can end in Python's import-deadlock error in either thread.
    _renew_once(state_conn_id, flow_id, run_id)
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat,
        args=(stop, state_conn_id, flow_id, run_id),
        name=f"syncgate-lease-{flow_id}",
        daemon=True,
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        _renew_once(state_conn_id, flow_id, run_id, settings.run_handoff_seconds())


def _beat(stop: threading.Event, state_conn_id: str, flow_id: str, run_id: str) -> None:
    interval = max(settings.run_lease_seconds() / 4, 0.05)
    while not stop.wait(interval):
        _renew_once(state_conn_id, flow_id, run_id)


def _renew_once(state_conn_id: str, flow_id: str, run_id: str, seconds: float | None = None) -> None:
    import psycopg

    from syncgate.db.connect import connect

    try:
        with connect(state_conn_id, autocommit=True) as conn:
            renew(conn, flow_id, run_id, seconds)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        pass  # a first run's extract has not created the state schema yet: no row to renew
    except Exception as exc:  # the stage's own work decides the run's fate, not its heartbeat
        log.warning("Could not renew the lease of run %s of flow %s: %s", run_id, flow_id, type(exc).__name__)
