"""Run the five syncgate stages of one flow run, each in a fresh Python process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench import cluster
from bench.child import run_child
from bench.paths import LANDING_DIR, LOGS_DIR, PORT, REPO_ROOT, REPORTS_DIR, SOURCE_DB, STATE_DIR, TARGET_DB

STAGES = ("extract", "transform", "load", "verify", "promote")
FLOW_ID = "bench_items"
TARGET_TABLE = "analytics.items"


class StageFailed(RuntimeError):
    """A stage's child process failed; carries the stage's own error text."""

    def __init__(self, scenario: str, stage: str, error: str, log: Path, traceback: str = "") -> None:
        super().__init__(f"{scenario}/{stage} failed: {error}")
        self.completed: list[dict[str, Any]] = []
        self.scenario = scenario
        self.stage = stage
        self.error = error
        self.log = log
        self.traceback = traceback


def flow_spec() -> dict[str, Any]:
    """The benchmark flow, as the raw dict a spec YAML file would hold."""
    return {
        "id": FLOW_ID,
        "description": "syncgate benchmark flow",
        "source": {
            "type": "postgres",
            "conn_id": "bench_src",
            "table": "public.items",
            "primary_key": ["id"],
            "cursor": "updated_at",
        },
        "target": {"type": "postgres", "conn_id": "bench_dst", "table": TARGET_TABLE, "write": "merge"},
        "quality": {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "qty", "min_value": 0, "max_value": 100000},
                },
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "sku"}},
            ]
        },
    }


def stage_env(port: int = PORT) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO_ROOT / "include"), str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        AIRFLOW_CONN_BENCH_SRC=cluster.url(SOURCE_DB, port),
        AIRFLOW_CONN_BENCH_DST=cluster.url(TARGET_DB, port),
        SYNCGATE_LANDING_URL=LANDING_DIR.as_uri(),
        SYNCGATE_REPORTS_DIR=str(REPORTS_DIR),
    )
    env.setdefault("AIRFLOW_HOME", str(STATE_DIR / "airflow-home"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
    return env


def run_stage(
    scenario: str, stage: str, request: dict[str, Any], env: dict[str, str], profile_dir: Path | None
) -> dict[str, Any]:
    """Run one stage in a child process; returns its result plus wall time and peak RSS."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / f"{scenario}-{stage}.log"
    request = {**request, "stage": stage}
    if profile_dir is not None:
        request["profile"] = str(profile_dir / f"{scenario}-{stage}.prof")
    done = run_child("bench.stage", request, env, log_path)
    result = done.result
    if not result.get("ok"):
        error = result.get("error") or f"child exited with code {done.exit_code} and no result"
        raise StageFailed(scenario, stage, error, log_path, result.get("traceback", ""))
    output = result["output"]
    own = (output.get("seconds") or {}).get(stage) if stage != "promote" else None
    return {
        "stage": stage,
        "stage_seconds": own if own is not None else result["call_seconds"],
        "call_seconds": result["call_seconds"],
        "pandas_imported": result.get("pandas_imported"),  # 0.3-0.8 s of start-up if True
        "import_seconds": result["import_seconds"],
        "warmup_seconds": result.get("warmup_seconds"),
        "wall_seconds": done.wall_seconds,
        "peak_rss_mb": done.peak_rss_mb,
        "log": str(log_path),
        "output": output,
    }


def run_flow(
    scenario: str,
    run_id: str,
    env: dict[str, str],
    profile_dir: Path | None = None,
    warm_airflow: bool = True,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """extract -> transform -> load -> verify -> promote, one child process each."""
    spec = spec or flow_spec()
    base: dict[str, Any] = {
        "spec": spec,
        "run": {"flow_id": spec["id"], "run_id": run_id, "run_type": "manual"},
        "manifest": None,
        "warm_airflow": warm_airflow,
    }
    stages: list[dict[str, Any]] = []
    manifest: dict[str, Any] | None = None
    for stage in STAGES:
        try:
            done = run_stage(scenario, stage, {**base, "manifest": manifest}, env, profile_dir)
        except StageFailed as exc:
            exc.completed = [{k: v for k, v in s.items() if k != "output"} for s in stages]
            raise
        stages.append(done)
        manifest = done["output"]
    extracted = stages[0]["output"]
    work = sum(s["stage_seconds"] for s in stages)
    return {
        "scenario": scenario,
        "run_id": run_id,
        "rows": int(extracted["rows"]),
        "bytes_landed": int(extracted["bytes"]),
        "stages": {s["stage"]: {k: v for k, v in s.items() if k not in ("stage", "output")} for s in stages},
        "work_seconds": work,
        "wall_seconds": sum(s["wall_seconds"] for s in stages),
        "counts": stages[-1]["output"],
        "quality_checks": len((stages[3]["output"].get("quality") or {}).get("results", [])),
    }
