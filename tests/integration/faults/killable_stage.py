"""Child process of the kill -9 cases: run one stage of a run and hang at a chosen point.

``python killable_stage.py JOB.json``; the job names the spec overrides (``helpers.make_spec``),
the run, the stage, the point to hang at, the batch the stage receives and the marker file
written on arrival. The stage runs under its real heartbeat (``state/leases.py``), as in a task.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faultkit import hang_here
from helpers import make_spec

from syncgate import landing
from syncgate.batch import settle
from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.connectors.postgres import target as postgres_target
from syncgate.pipeline import extract, load, promote, transform, verify
from syncgate.staging import copy_binary
from syncgate.state.leases import heartbeat


def after(owner: Any, name: str, marker: Path, *, calls: int = 1) -> None:
    """Let ``owner.name`` run ``calls`` times, then hang (the last call done, not returned)."""
    real = getattr(owner, name)
    seen = [0]

    def hanging(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen[0] += 1
        if seen[0] >= calls:
            hang_here(marker)
        return result

    setattr(owner, name, hanging)


def before(owner: Any, name: str, marker: Path, *, calls: int = 1) -> None:
    """Let ``owner.name`` run ``calls - 1`` times, then hang as it is called again."""
    real = getattr(owner, name)
    seen = [0]

    def hanging(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] >= calls:
            hang_here(marker)
        return real(*args, **kwargs)

    setattr(owner, name, hanging)


POINTS = {
    # The first row group landed, the read still going.
    "extract": lambda m: after(landing.ParquetSink, "write", m),
    "transform": lambda m: after(landing.ParquetSink, "write", m),
    # The first row group went into the open binary COPY; the next one never comes.
    "load": lambda m: before(copy_binary, "encode", m, calls=2),
    # GX has checked the staged batch under the seal; the verdict is not recorded.
    "verify": lambda m: after(verify, "run_checkpoint", m),
    # Rows written, watermark moved and audit row closed, in the transaction: no COMMIT yet.
    "promote_before_commit": lambda m: after(settle, "settle", m),
    # First load: the staging table renamed into place and its primary key built, uncommitted.
    "key_build": lambda m: after(postgres_target, "_adopt_staging", m),
    # Committed; the landed files not yet forgotten, the task not yet reported success.
    "promote_after_commit": lambda m: before(settle, "forget", m),
}

STAGES = {
    "extract": lambda spec, run, batch: extract.extract(spec, run),
    "transform": lambda spec, run, batch: transform.transform(spec, batch),
    "load": load.load,
    "verify": verify.verify,
    "promote": promote.promote,
}


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    spec = make_spec(**job["overrides"])
    run = RunInfo(spec.id, job["run_id"])
    batch = Batch.from_xcom(job["batch"], flow_id=spec.id, stage=job["stage"]) if job["batch"] else None
    POINTS[job["point"]](Path(job["marker"]))
    with heartbeat(spec.state_conn_id, spec.id, run.run_id):
        STAGES[job["stage"]](spec, run, batch)
    raise SystemExit(f"stage {job['stage']} ended without reaching {job['point']}")


if __name__ == "__main__":
    main(sys.argv[1])
