"""What earlier runs of a sync flow left behind, removed by the side extracts of its next run.

A sync run is on record, and holds a lease, from its first side extract on (``side_read.py``);
every task of its DAG renews the lease (``state/leases.py``). Each side extract of a run, before
it lands anything:

- marks the flow's dead runs failed (a lease that expired: kill -9, a lost worker, a database
  restart), never its own run: the side extracts of one run share its run id and run at once;
- drops the per-side staging tables of the flow's finished runs (dead, failed, or rejected and
  kept for inspection), as their audit row lists them (``staging_table``);
- removes the dead runs' plan files on every side, and, when no other run of the flow is alive,
  every landed batch of its own side but its HTTP resume checkpoint. A side's folder holds only
  its own side's batches, so the run's other side extracts, landing meanwhile, are untouched.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch.run import RunInfo
from syncgate.db.identifiers import TableRef
from syncgate.db.sql import compose
from syncgate.spec.sync_model import SyncSpec
from syncgate.state import leases

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_SEPARATOR = ", "


def run_staging(spec: SyncSpec, run: RunInfo) -> str:
    """Every table the run's side loads stage into, as its audit row's ``staging_table`` lists them."""
    from syncgate.reconcile.side_apply import plan_table, staged_names

    tables = []
    for side in spec.side_names:
        upserts, deletes = staged_names(spec, side, run)
        tables += [upserts, deletes, plan_table(upserts)]
    return _SEPARATOR.join(str(t) for t in tables)


def clean_side_leftovers(conn: psycopg.Connection[Any], spec: SyncSpec, side: str, run: RunInfo) -> None:
    """Reap the flow's dead runs and remove what earlier runs left (caller's transaction; landed
    files go at once). ``run`` (the calling run) is on record and holds its lease already."""
    # Serialised per flow until the caller commits, as for one-way flows (pipeline/leftovers.py).
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.leftovers'), hashtext(%s))", (spec.id,))
    dead = leases.reap(conn, spec.id, keep=run.run_id)
    drop_finished_staging(conn, spec.id, keep=run.run_id)
    for other in spec.side_names:
        landing.remove_batches(spec.side(other).view.id, [f"plan-{d.batch_id}" for d in dead if d.batch_id])
    if not leases.live_runs(conn, spec.id, keep=run.run_id):
        view_id = spec.side(side).view.id
        # The side's reads land under the side's own run identity (side_read.side_run).
        landing.remove_batches_except(view_id, set(), keep_resume_for=RunInfo(view_id, run.run_id).key)


def drop_finished_staging(conn: psycopg.Connection[Any], flow_id: str, keep: str) -> None:
    """Drop the staging tables the flow's finished runs other than ``keep`` still list."""
    finished = conn.execute(
        "SELECT run_id, staging_table FROM syncgate.sync_runs "
        "WHERE flow_id = %s AND run_id <> %s AND status <> 'running' AND staging_table IS NOT NULL",
        (flow_id, keep),
    ).fetchall()
    for run_id, listed in finished:
        for name in listed.split(_SEPARATOR):
            conn.execute(compose("DROP TABLE IF EXISTS {}", TableRef.parse(name).sql))
        log.info("Flow %s: dropped the staging tables run %s left", flow_id, run_id)
    if finished:
        conn.execute(
            "UPDATE syncgate.sync_runs SET staging_table = NULL WHERE flow_id = %s AND run_id = ANY(%s)",
            (flow_id, [run_id for run_id, _ in finished]),
        )
