"""Child process of the two-way kill -9 cases: run a sync run's tasks in DAG order and hang at a
chosen point inside one of them.

``python killable_sync_stage.py JOB.json``; the job names the spec (YAML), the run, the point to
hang at and the marker file written on arrival. Each task runs under the run's heartbeat
(``state/leases.py``), as the sync DAG's tasks do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from killable_stage import after, before

from syncgate import landing
from syncgate.batch.run import RunInfo
from syncgate.reconcile import side_apply, store
from syncgate.reconcile.decide import reconcile
from syncgate.reconcile.side_apply import load_side, promote_side, verify_side
from syncgate.reconcile.side_read import extract_side, transform_side
from syncgate.spec.sync_model import SyncSpec
from syncgate.state.leases import heartbeat

POINTS = {
    # The first side's read has landed its first row group.
    "extract": lambda m: after(landing.ParquetSink, "write", m),
    # Inside reconcile's transaction: conflicts logged and bases adopted, not committed.
    "reconcile": lambda m: before(store, "mark_pending", m),
    # The first side's staging committed; the second side's upserts copied, not committed.
    "load": lambda m: after(side_apply, "_copy", m, calls=4),
    # GX has checked the first side's staged writes under the seal; no verdict recorded.
    "verify": lambda m: after(side_apply, "run_checkpoint", m),
    # The first side written (its database committed), its records and watermark not settled.
    "promote": lambda m: before(side_apply, "settle_side", m),
    # The first side promoted and settled; the second side not written.
    "between_promotes": lambda m: after(side_apply, "write_report_safely", m),
}


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    spec = SyncSpec.model_validate(yaml.safe_load(job["spec"]))
    run = RunInfo(spec.id, job["run_id"])
    POINTS[job["point"]](Path(job["marker"]))

    def task(body: Any) -> Any:
        with heartbeat(spec.state_conn_id, spec.id, run.run_id):
            return body()

    sides = spec.side_names
    extracted = {s: task(lambda s=s: extract_side(spec, s, run)) for s in sides}
    transformed = {s: task(lambda s=s: transform_side(spec, s, run, extracted)) for s in sides}
    plan = task(lambda: reconcile(spec, run, transformed))
    staged = {s: task(lambda s=s: load_side(spec, s, run, transformed[s], plan["sides"][s])) for s in sides}
    verified = {s: task(lambda s=s: verify_side(spec, s, run, staged[s])) for s in sides}
    for s in sides:
        task(
            lambda s=s: promote_side(
                spec, s, run, extracted[s], transformed[s], plan["sides"][s], verified[s]
            )
        )
    raise SystemExit(f"the sync run ended without reaching {job['point']}")


if __name__ == "__main__":
    main(sys.argv[1])
