"""``python -m bench.run --case fixed_cost``: where the seconds of a small run go.

Under the real scheduler (bench/airflow_stack.py), a five-task one-way PostgreSQL flow is
triggered through the REST API after a 1-row change, N times; each run is broken down from the
metadata DB's task instance times and the stages' own timings (their XCom ``seconds``):

- trigger -> run start: REST call to the scheduler starting the run;
- per task: scheduler gap (previous task's end, or the run's start, -> queued), executor pickup
  (queued -> start: worker picks the workload, forks the task process, which reports running),
  task wall (start -> end: DAG file parse in the task, library start-up, the stage's own work,
  reporting back);
- last task's end -> run end (the scheduler marking the run done).

``--settings name=KEY=VALUE,...`` compares configurations; each one gets a fresh stack. The idle
CPU of every component (user + system seconds over ``--idle`` seconds, from /proc) is measured
on the same stack with nothing running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import latency_flow as lf
from bench.airflow_stack import METADATA_DB, AirflowStack
from bench.paths import STATE_DIR

STAGES = ("extract", "transform", "load", "verify", "promote")
RESULTS = STATE_DIR / "fixed_cost.json"
# Settings compared by default (environment variables applied to every component).
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "idle_sleep_0.05": {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.05"},
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run --case fixed_cost", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per setting (default 5)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement (0: skip)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE[,KEY=VALUE]",
        help="a settings variant (repeatable); default: " + ", ".join(VARIANTS),
    )
    parser.add_argument("--only", action="append", default=[], help="run only these named variants")
    return parser.parse_args(argv)


def _variants(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    variants = dict(VARIANTS) if not args.variant else {}
    for item in args.variant:
        name, _, rest = item.partition("=")
        variants[name] = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    return variants


def _seconds(value: Any) -> dict[str, float]:
    """Every ``seconds`` dict in an XCom value, merged."""
    found: dict[str, float] = {}
    if isinstance(value, dict):
        if isinstance(value.get("seconds"), dict):
            found.update({k: float(v) for k, v in value["seconds"].items() if isinstance(v, int | float)})
        for item in value.values():
            if isinstance(item, dict):
                found.update(_seconds(item))
    return found


def stage_seconds(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, float]:
    with stack.connect(METADATA_DB) as conn:
        rows = conn.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = %s AND run_id = %s AND key = 'return_value'",
            (dag_id, run_id),
        ).fetchall()
    merged: dict[str, float] = {}
    for _task, value in sorted(rows, key=lambda r: STAGES.index(r[0]) if r[0] in STAGES else 99):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        merged.update(_seconds(value))
    return merged


def breakdown(stack: AirflowStack, dag_id: str, run_id: str, triggered_at: datetime) -> dict[str, Any]:
    """One run's seconds, from the metadata DB (see the module docstring)."""
    run = stack.run_times(dag_id, run_id)
    tis = {t["task_id"]: t for t in stack.task_times(dag_id, run_id)}
    own = stage_seconds(stack, dag_id, run_id)
    out: dict[str, Any] = {"run_id": run_id, "total": (run["end"] - triggered_at).total_seconds()}
    out["trigger_to_start"] = (run["start"] - triggered_at).total_seconds()
    prev_end = run["start"]
    gaps = pickups = walls = 0.0
    for stage in STAGES:
        ti = tis[stage]
        gap = (ti["queued"] - prev_end).total_seconds()
        pickup = (ti["start"] - ti["queued"]).total_seconds()
        wall = (ti["end"] - ti["start"]).total_seconds()
        out[stage] = {
            "gap": gap,
            "pickup": pickup,
            "wall": wall,
            "startup": own.get(f"{stage}_startup"),
            "work": own.get(stage),
        }
        gaps, pickups, walls = gaps + gap, pickups + pickup, walls + wall
        prev_end = ti["end"]
    out["last_end_to_run_end"] = (run["end"] - prev_end).total_seconds()
    out["gaps"], out["pickups"], out["walls"] = gaps, pickups, walls
    out["startups"] = sum(out[s]["startup"] or 0.0 for s in STAGES)
    out["work"] = sum(out[s]["work"] or 0.0 for s in STAGES)
    return out


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def idle_cpu(stack: AirflowStack, seconds: float) -> dict[str, float]:
    """Share of one core each component (with its children) uses while nothing runs."""
    pids = stack.component_pids()
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    time.sleep(seconds)
    after = {name: cpu_seconds(p) for name, p in stack.component_pids().items()}
    return {name: (after[name] - before[name]) / seconds for name in before}


def measure(name: str, settings: dict[str, str], args: argparse.Namespace, base: Path) -> dict[str, Any]:
    print(f"-- {name}: {settings or '(Airflow defaults)'}", file=sys.stderr, flush=True)
    flows = Path(tempfile.mkdtemp(prefix="flows-", dir=base))
    stack = AirflowStack(
        state_dir=base / "stack",
        flows_dir=flows,
        databases=[lf.SOURCE_DB, lf.TARGET_DB],
        connections={"lat_src": lf.SOURCE_DB, "lat_dst": lf.TARGET_DB},
        settings=settings,
        pg_dir=base / "pg",
        fresh_metadata=True,
    )
    result: dict[str, Any] = {"variant": name, "settings": settings, "runs": []}
    with stack:
        with stack.connect(lf.SOURCE_DB) as src:
            lf.seed_source(src)
        with stack.connect(lf.TARGET_DB) as dst:
            dst.execute("DROP SCHEMA IF EXISTS analytics CASCADE")
            dst.execute("DROP SCHEMA IF EXISTS syncgate CASCADE")
        lf.write_spec(flows, lf.flow_spec())
        stack.wait_for_dag(lf.FLOW_ID)
        result["loadavg_start"] = os.getloadavg()
        stack.unpause(lf.FLOW_ID)
        # The first run copies the seed (and creates the target): not a small run.
        first = stack.trigger(lf.FLOW_ID, "warmup")
        if stack.wait_for_run(lf.FLOW_ID, first) != "success":
            raise RuntimeError(f"warm-up run failed: see {stack.airflow_home}/logs")
        with stack.connect(lf.SOURCE_DB) as src:
            for i in range(args.runs if args.runs else 0):
                lf.touch_row(src, 1 + i, 1000 + i)
                time.sleep(1.0)  # settle: the scheduler idles as it would between events
                triggered_at = datetime.now().astimezone()
                run_id = stack.trigger(lf.FLOW_ID, f"small_{i}")
                state = stack.wait_for_run(lf.FLOW_ID, run_id)
                if state != "success":
                    raise RuntimeError(f"run {run_id}: {state}")
                row = breakdown(stack, lf.FLOW_ID, run_id, triggered_at)
                result["runs"].append(row)
                print(f"   run {i}: {row['total']:.2f} s", file=sys.stderr, flush=True)
        if args.idle > 0:
            time.sleep(5)  # the last run's processes wind down
            result["idle_cpu"] = idle_cpu(stack, args.idle)
        result["loadavg_end"] = os.getloadavg()
    return result


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(results: list[dict[str, Any]]) -> str:
    head = "| setting | total | trigger->start | sched gaps | pickups | task walls | of which start-up | of which stage work | end->run end | idle CPU (sched / all) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        runs = r["runs"]

        def m(key: str, runs: list[dict[str, Any]] = runs) -> str:
            vals = [x[key] for x in runs]
            if not vals:
                return "-"
            return f"{_med(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"

        idle = r.get("idle_cpu") or {}
        idle_txt = f"{idle.get('scheduler', 0) * 100:.0f}% / {sum(idle.values()) * 100:.0f}%" if idle else "-"
        lines.append(
            f"| {r['variant']} | {m('total')} | {m('trigger_to_start')} | {m('gaps')} | {m('pickups')} | "
            f"{m('walls')} | {m('startups')} | {m('work')} | {m('last_end_to_run_end')} | {idle_txt} |"
        )
    return "\n".join(lines)


def stage_table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['variant']} (median seconds per task over {len(result['runs'])} runs)\n",
        "| task | gap | pickup | wall | start-up | stage work |",
        "|---|---|---|---|---|---|",
    ]
    for stage in STAGES:
        vals = {
            k: _med([r[stage][k] or 0.0 for r in result["runs"]])
            for k in ("gap", "pickup", "wall", "startup", "work")
        }
        lines.append(
            f"| {stage} | {vals['gap']:.2f} | {vals['pickup']:.2f} | {vals['wall']:.2f} | {vals['startup']:.2f} | {vals['work']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    base = STATE_DIR / "fixed_cost"
    base.mkdir(parents=True, exist_ok=True)
    results = []
    for name, settings in _variants(args).items():
        results.append(measure(name, settings, args, base))
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n## Run fixed cost: REST trigger -> success, 1-row change, {os.cpu_count()} CPUs\n")
    print(table(results))
    for r in results:
        if r["runs"]:
            print("\n" + stage_table(r))
    print(f"\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
