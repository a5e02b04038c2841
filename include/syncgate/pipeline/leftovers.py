"""What earlier runs of a flow left behind, removed by its next run.

- Runs that died (``state/leases.py``) are marked failed first, so nothing stays ``running``
  for good.
- Staging tables of finished runs (rejected or failed batches kept for inspection, dead runs).
- Landed batches no live run owns: a dead run's, a run killed before its audit row named its
  batch (in the middle of extract), a promoted batch whose removal failed. While another run
  of the flow is alive and has not named its batch yet, only batches known to be dead go: the
  unnamed one may be its.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch.staging import deleted_of, keys_of
from syncgate.db.identifiers import TableRef
from syncgate.state import leases

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


def clean_leftovers(conn: psycopg.Connection[Any], flow_id: str, run_id: str, run_key: str) -> None:
    """Reap the flow's dead runs and remove every leftover of runs other than ``run_id``.

    The calling run (``run_key``: ``RunInfo.key``) keeps its HTTP resume checkpoint and the
    batch it points to. Runs in the caller's transaction; landed files go at once.
    """
    # Serialised per flow until the caller commits: a run starting meanwhile sees this one on
    # record (live, its batch not named yet) before it may sweep the flow's landing folder.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.leftovers'), hashtext(%s))", (flow_id,))
    dead = leases.reap(conn, flow_id, keep=run_id)
    drop_finished_staging(conn, flow_id, keep=run_id)
    live = leases.live_runs(conn, flow_id, keep=run_id)
    owned = {batch for _, batch in live if batch}
    if any(batch is None for _, batch in live):
        doomed = {run.batch_id for run in dead if run.batch_id and run.batch_id not in owned}
        landing.remove_batches(flow_id, doomed)
    else:
        landing.remove_batches_except(flow_id, owned, keep_resume_for=run_key)


def drop_finished_staging(conn: psycopg.Connection[Any], flow_id: str, keep: str) -> None:
    """Drop what this flow's earlier finished runs kept for inspection: staging tables and
    landed files of rejected, failed or dead batches."""
    from psycopg import sql

    stale = conn.execute(
        "SELECT staging_table, batch_id FROM syncgate.sync_runs "
        "WHERE flow_id = %s AND run_id <> %s AND status <> 'running' AND staging_table IS NOT NULL",
        (flow_id, keep),
    ).fetchall()
    for name, batch_id in stale:
        table = TableRef.parse(name)
        for ref in (table, keys_of(table), deleted_of(table)):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ref.sql))
        if batch_id:
            landing.remove_batch(flow_id, batch_id)
    if stale:
        conn.execute(
            "UPDATE syncgate.sync_runs SET staging_table = NULL "
            "WHERE flow_id = %s AND run_id <> %s AND status <> 'running'",
            (flow_id, keep),
        )
