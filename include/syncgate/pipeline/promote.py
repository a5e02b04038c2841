"""Promote: the target applies the verified batch; the watermark moves with the data.

How depends on the target (``syncgate.connectors``): a PostgreSQL table takes the batch in one
transaction with the watermark; an API receives its changes one by one, with a mirror of what
it accepted. Either way the batch must carry a passing quality verdict and be unchanged since
verify (``syncgate.batch.settle``), and a retry of a batch that was applied changes nothing.

A batch that a newer promoted batch carries is settled ``superseded`` and writes nothing; the
DAG's promote task then ends skipped (``superseded``), so Airflow records no asset event for the
target and no downstream DAG starts for a change that did not happen.
"""

from __future__ import annotations

import logging
import time

from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.connectors.base import ConfirmsReads
from syncgate.connectors.registry import source_for, target_for
from syncgate.db.connect import connect
from syncgate.pipeline.startup import import_libraries
from syncgate.quality import verdicts
from syncgate.report.write import write_report_safely
from syncgate.spec.model import FlowSpec
from syncgate.state import audit

log = logging.getLogger(__name__)


def promote(spec: FlowSpec, run: RunInfo, batch: Batch | None) -> dict[str, int]:
    """Apply the verified batch to the target; returns the counts written.

    ``batch`` is None when verify produced no result (marked success by hand, or cleared): then
    only a run that already committed its batch succeeds, and any other refuses with the reason.
    """
    if batch is None:
        return verdicts.without_manifest(spec.state_conn_id, spec.id, run.run_id)
    target = target_for(spec)
    startup = import_libraries("promote", extra=target.libraries)
    started = time.monotonic()
    counts = dict(target.apply(spec, run, batch))
    source = source_for(spec)
    if isinstance(source, ConfirmsReads):  # only now: a failed or rejected run confirms nothing
        source.promoted(spec, batch)
    seconds = time.monotonic() - started
    write_report_safely(
        spec, run.run_id, manifest=batch.with_seconds(promote=seconds, promote_startup=startup).as_dict()
    )
    return counts


def superseded(spec: FlowSpec, run_id: str) -> bool:
    """Whether promote settled the run as ``superseded`` and wrote nothing: a newer batch carries
    its changes. Every target's promote records it in the run's audit row. A push that first
    completed another run's abandoned changes, and then found its own batch superseded, did
    change the API: its audit row counts what it sent, and it is not "nothing"."""
    with connect(spec.state_conn_id) as conn:
        run = audit.read_run(conn, spec.id, run_id)
    if run is None or run["status"] != "superseded":
        return False
    return not any(run.get(column) for column in _WRITES)


# What a promote wrote, as its audit row counts it.
_WRITES = ("rows_inserted", "rows_updated", "rows_deleted", "rows_pushed")
