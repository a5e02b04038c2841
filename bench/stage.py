"""Child-process entry point: run ONE pipeline stage, like an Airflow task would.

    python -m bench.stage REQUEST.json RESULT.json

The request names the stage, the raw spec dict, the run identity and the previous manifest;
the result holds the stage's return value, its timings and the process's peak RSS.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

STAGES = ("extract", "transform", "load", "verify", "promote")


def _peak_rss_kb() -> dict[str, int]:
    peak: dict[str, int] = {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak["vmhwm_kb"] = int(line.split()[1])
    except OSError:
        pass
    return peak


def _warm_airflow() -> None:
    """Load what an Airflow task process holds before the task callable starts.

    The task runner is forked from the supervisor (so it holds the supervisor's modules), has
    imported the SDK, parsed the DAG file (syncgate spec models) and set up plugins / the hook
    lineage collector; a bare ``python -m`` child would otherwise bill that
    start-up to the first stage call that touches ``airflow.sdk``.
    """
    import airflow.models.connection  # noqa: F401
    import airflow.sdk  # noqa: F401
    import airflow.sdk.execution_time.supervisor  # noqa: F401  (a task process is forked from it)
    import airflow.sdk.execution_time.task_runner  # noqa: F401
    from airflow.sdk.lineage import get_hook_lineage_collector

    import syncgate.spec.model  # noqa: F401

    get_hook_lineage_collector()


def _stage_call(request: dict[str, Any]) -> Callable[[], Any]:
    from syncgate.batch.contract import Batch
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec

    spec = FlowSpec.model_validate(request["spec"])
    run = RunInfo(**request["run"])
    stage = request["stage"]
    manifest = (
        Batch.from_xcom(request.get("manifest"), flow_id=spec.id, stage=stage) if stage != "extract" else None
    )
    if stage == "extract":
        from syncgate.pipeline.extract import extract

        return lambda: extract(spec, run).to_xcom()
    if stage == "transform":
        from syncgate.pipeline.transform import transform

        return lambda: transform(spec, manifest).to_xcom()
    if stage == "load":
        from syncgate.pipeline.load import load

        return lambda: load(spec, run, manifest).to_xcom()
    if stage == "verify":
        from syncgate.pipeline.verify import verify

        return lambda: verify(spec, run, manifest).to_xcom()
    if stage == "promote":
        from syncgate.pipeline.promote import promote

        return lambda: promote(spec, run, manifest)
    raise ValueError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")


def _profiled(call: Callable[[], Any], path: Path) -> Any:
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    try:
        return profile.runcall(call)
    finally:
        path.parent.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(path))
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
        path.with_suffix(".txt").write_text(text.getvalue())


def main(argv: list[str]) -> int:
    request_path, result_path = Path(argv[0]), Path(argv[1])
    request = json.loads(request_path.read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: dict[str, Any] = {"stage": request["stage"]}
    code = 0
    try:
        if request.get("warm_airflow", True):
            warming = time.monotonic()
            _warm_airflow()
            result["warmup_seconds"] = time.monotonic() - warming
        imported = time.monotonic()
        call = _stage_call(request)
        # The stage's libraries too (psycopg, pyarrow, GX): the stages time them apart from their
        # own work (syncgate.pipeline.startup), so the promote call time must exclude them as well.
        from syncgate.connectors.registry import source_for, target_for
        from syncgate.pipeline.startup import import_libraries
        from syncgate.spec.model import FlowSpec

        spec = FlowSpec.model_validate(request["spec"])
        side = {"extract": source_for, "promote": target_for}.get(request["stage"])
        import_libraries(request["stage"], extra=side(spec).libraries if side else ())
        result["import_seconds"] = time.monotonic() - imported
        began = time.monotonic()
        if request.get("profile"):
            value = _profiled(call, Path(request["profile"]))
        else:
            value = call()
        result["call_seconds"] = time.monotonic() - began
        result.update(ok=True, output=value)
    except Exception as exc:  # the parent reports it with the stage name
        logging.getLogger("bench.stage").exception("stage %s failed", request["stage"])
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    result["pandas_imported"] = "pandas" in sys.modules
    result["process_seconds"] = time.monotonic() - STARTED
    result.update(_peak_rss_kb())
    result_path.write_text(json.dumps(result, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
