"""kill -9 at every stage: the next run finds the run dead, removes what it left and repairs.

The stages before the one under test run in-process; that stage runs in a child process under
its heartbeat (``killable_stage.py``) and hangs at its point: mid-read, mid-write of the
transformed file, mid-COPY (the binary COPY into staging open and streaming), mid-checkpoint,
inside promote's transaction before COMMIT, right after a first load's key build (uncommitted),
and after promote's COMMIT before the task reports success. SIGKILL, then one new run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    assert_repaired,
    change_source,
    kill,
    landed_files,
    start_killable_stage,
    track_watermark,
    wait_for_expiry,
    watermark_value,
)
from helpers import audit, make_spec, new_run, rows, seed_orders, sync

from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration

ORDER = ("extract", "transform", "load", "verify", "promote")
# point -> the stage it lands in
POINTS = {
    "extract": "extract",
    "transform": "transform",
    "load": "load",
    "verify": "verify",
    "promote_before_commit": "promote",
    "promote_after_commit": "promote",
    "key_build": "promote",
}
MODES: dict[str, dict[str, Any]] = {
    "incremental": {},  # merge with a cursor and hard deletes (the key set is staged too)
    "replace": {"source__cursor": None, "target__write": "replace"},
    "first_load": {},  # no target yet: promote adopts the staging table and builds its key
}
CASES = [
    *[("incremental", point) for point in POINTS if point != "key_build"],
    ("replace", "load"),
    ("replace", "promote_before_commit"),
    ("replace", "promote_after_commit"),
    ("first_load", "key_build"),
    ("first_load", "load"),
]


def stages_before(spec: Any, run: Any, stage: str) -> Any:
    """Run the stages before ``stage`` in-process; the batch ``stage`` receives."""
    batch = None
    steps = {
        "extract": lambda b: extract(spec, run),
        "transform": lambda b: transform(spec, b),
        "load": lambda b: load(spec, run, b),
        "verify": lambda b: verify(spec, run, b),
    }
    for name in ORDER[: ORDER.index(stage)]:
        batch = steps[name](batch)
    return batch


def copy_in_progress(dst: str) -> bool:
    return bool(
        rows(
            dst,
            "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid "
            "WHERE d.datname = current_database() AND p.command = 'COPY FROM' AND p.tuples_processed > 0",
        )[0][0]
    )


@pytest.mark.parametrize(("mode", "point"), CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_a_run_killed_at_any_point_is_repaired_by_the_next_run(
    databases: dict[str, str],
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    point: str,
) -> None:
    src, dst = databases["src"], databases["dst"]
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", "1")
    monkeypatch.setenv("SYNCGATE_BATCH_BYTES", "16384")  # several row groups: a COPY that streams
    monkeypatch.setenv("SYNCGATE_LOAD_STREAMS", "1")  # one COPY, so "mid-COPY" is one place
    seed_orders(src, 3000)
    overrides = MODES[mode]
    spec = make_spec(**overrides)
    if mode != "first_load":
        sync(spec)
        change_source(src)
    track_watermark(dst)
    before = watermark_value(dst)

    stage = POINTS[point]
    doomed = new_run(spec)
    batch = stages_before(spec, doomed, stage)
    process = start_killable_stage(tmp_path, overrides, doomed, stage, point, batch)
    try:
        if point == "load":
            deadline = time.monotonic() + 10
            while not copy_in_progress(dst):
                assert time.monotonic() < deadline, "no COPY was streaming into staging when killed"
                time.sleep(0.05)
        if point == "extract":
            assert landed_files(), "the killed extract had landed nothing yet"
    finally:
        kill(process)
    wait_for_expiry(dst, doomed)

    sync(spec)

    assert_repaired(src, dst, before=before, cursor="source__cursor" not in overrides)
    status = audit(dst, doomed.run_id)["status"]
    assert status == ("success" if point == "promote_after_commit" else "failed")
