"""Child-process entry point: run ONE stage of a two-way flow, like an Airflow task would.

    python -m bench.two_way_stage REQUEST.json RESULT.json

The request names the stage (extract, transform, reconcile, load, verify, promote), the side
(not for reconcile), the raw spec dict, the run identity and the XCom values the stage takes;
the result holds the stage's return value, its timings and the process's peak RSS.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.stage import _peak_rss_kb, _profiled, _warm_airflow  # noqa: E402

# The libraries each stage imports before its timer starts (syncgate.pipeline.startup);
# reconcile has none of its own beyond psycopg, which the state connection brings.
_STARTUP = {"extract": "extract", "transform": "transform", "reconcile": "transform", "load": "load",
            "verify": "verify", "promote": "promote"}  # fmt: skip
# Every stage opens the state database (transform for its hard-delete check, reconcile for
# the bases), and extract the side through the PostgreSQL source's driver.
_CONNECTIONS = ("psycopg", "airflow.providers.postgres.hooks.postgres")
_SOURCE_LIBRARIES = ("adbc_driver_manager", "adbc_driver_postgresql")


def _stage_call(request: dict[str, Any]) -> Callable[[], Any]:
    from syncgate.batch.run import RunInfo
    from syncgate.spec.sync_model import SyncSpec

    spec = SyncSpec.model_validate(request["spec"])
    run = RunInfo(**request["run"])
    stage, side, inputs = request["stage"], request.get("side"), request["inputs"]
    if stage == "extract":
        from syncgate.reconcile.side_read import extract_side

        return lambda: extract_side(spec, side, run)
    if stage == "transform":
        from syncgate.reconcile.side_read import transform_side

        return lambda: transform_side(spec, side, run, inputs["extracted"])
    if stage == "reconcile":
        from syncgate.reconcile.decide import reconcile

        return lambda: reconcile(spec, run, inputs["transformed"])
    if stage == "load":
        from syncgate.reconcile.side_apply import load_side

        return lambda: load_side(spec, side, run, inputs["transformed"], inputs["plan"])
    if stage == "verify":
        from syncgate.reconcile.side_apply import verify_side

        return lambda: verify_side(spec, side, run, inputs["staged"])
    if stage == "promote":
        from syncgate.reconcile.side_apply import promote_side

        return lambda: promote_side(
            spec, side, run, inputs["extracted"], inputs["transformed"], inputs["plan"], inputs["verified"]
        )
    raise ValueError(f"unknown stage {stage!r}")


def main(argv: list[str]) -> int:
    request_path, result_path = Path(argv[0]), Path(argv[1])
    request = json.loads(request_path.read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: dict[str, Any] = {"stage": request["stage"], "side": request.get("side")}
    code = 0
    try:
        if request.get("warm_airflow", True):
            warming = time.monotonic()
            _warm_airflow()
            result["warmup_seconds"] = time.monotonic() - warming
        imported = time.monotonic()
        call = _stage_call(request)
        from syncgate.pipeline.startup import import_libraries

        extra = _CONNECTIONS + (_SOURCE_LIBRARIES if request["stage"] == "extract" else ())
        import_libraries(_STARTUP[request["stage"]], extra=extra)
        result["import_seconds"] = time.monotonic() - imported
        began = time.monotonic()
        value = _profiled(call, Path(request["profile"])) if request.get("profile") else call()
        result["call_seconds"] = time.monotonic() - began
        result.update(ok=True, output=value)
    except Exception as exc:  # the parent reports it with the stage name
        logging.getLogger("bench.two_way_stage").exception("stage %s failed", request["stage"])
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    result["process_seconds"] = time.monotonic() - STARTED
    result.update(_peak_rss_kb())
    result_path.write_text(json.dumps(result, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
