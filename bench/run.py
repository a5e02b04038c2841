"""``python -m bench.run``: COPY pipe vs syncgate full and 1% incremental sync; prints markdown.

    python -m bench.run [--rows N] [--keep] [--skip-generate] [--profile] [--pipe-runs N]
                        [--cold-airflow] [--case sync|ui]
    python -m bench.run --case monitor [bench.monitor options]   (the monitor over 200 flows)
    python -m bench.run --case http [bench.http options]         (an HTTP API -> PostgreSQL sync)
    python -m bench.run --case two_way [bench.two_way options]   (a two-way PostgreSQL <-> PostgreSQL sync)
    python -m bench.run --case latency [bench.latency options]   (commit -> target under the real scheduler)
    python -m bench.run --case fixed_cost [bench.fixed_cost options]  (where a small run's seconds go)

Starts .syncgate/pg-bench (port: SYNCGATE_BENCH_PORT, else one derived from the checkout path),
(re)creates bench_src / bench_dst, and writes the results to .syncgate/bench/results.json. --profile runs every stage under cProfile and logs
slow statements server-side (timings are then inflated: use it to find hotspots only).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cluster, data, report
from bench.paths import (
    LANDING_DIR,
    LOGS_DIR,
    PORT,
    PROFILES_DIR,
    REPORTS_DIR,
    RESULTS_FILE,
    SOURCE_DB,
    TARGET_DB,
)
from bench.pipe import copy_pipe
from bench.sync import TARGET_TABLE, StageFailed, run_flow, stage_env

SLOW_STATEMENT_MS = 100


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="source rows (default 2,000,000)")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    parser.add_argument(
        "--skip-generate", action="store_true", help="reuse bench_src.public.items if it exists"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each stage + log slow SQL (inflates timings)"
    )
    parser.add_argument(
        "--cold-airflow",
        action="store_true",
        help="do not pre-import Airflow in the stage processes (its start-up then counts as stage time)",
    )
    parser.add_argument(
        "--incremental-only",
        action="store_true",
        help="reuse the target a kept (--keep) earlier run left: skip the pipe and the full sync, "
        "change 1%% of the rows and time the incremental sync only (fast iteration on fixed costs)",
    )
    parser.add_argument(
        "--pipe-runs", type=int, default=2, help="time the COPY pipe N times and keep the best (default 2)"
    )
    parser.add_argument(
        "--case", choices=("sync", "ui"), default="sync",
        help="sync (default): the sync benchmark; ui: the UI health view (bench/ui_health.py)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if args.pipe_runs < 1:
        parser.error("--pipe-runs must be at least 1")
    return args


def _step(message: str) -> float:
    print(f"-- {message}", file=sys.stderr, flush=True)
    return time.monotonic()


def _done(started: float) -> None:
    print(f"   ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)


def _reset_dirs(profile: bool) -> None:
    for path in (LANDING_DIR, REPORTS_DIR, LOGS_DIR, *([PROFILES_DIR] if profile else [])):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


def _consistent(label: str) -> dict[str, Any]:
    source = data.fingerprint(SOURCE_DB, data.TABLE)
    target = data.fingerprint(TARGET_DB, TARGET_TABLE)
    return {"after": label, "match": source == target, "source": source, "target": target}


def _slow_statements(offset: int) -> Path | None:
    log = cluster.server_log()
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    out = PROFILES_DIR / "slow_statements.log"
    out.write_text("\n".join(line for line in text.splitlines() if "duration:" in line) + "\n")
    return out


def _log_size() -> int:
    try:
        return cluster.server_log().stat().st_size
    except OSError:
        return 0


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows_requested": args.rows,
        "profiled": args.profile,
        "airflow_prewarmed": not args.cold_airflow,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_start": os.getloadavg(),
        },
        "scenarios": [],
        "consistency": [],
    }
    t = _step(f"starting PostgreSQL (.syncgate/pg-bench, port {PORT})")
    cluster.start()
    _done(t)
    _reset_dirs(args.profile)

    rows = data.source_rows() if args.skip_generate else None
    if rows is None:
        t = _step(f"generating {args.rows:,} rows in {SOURCE_DB}.{data.TABLE}")
        data.generate(args.rows)
        rows = args.rows
        _done(t)
    else:
        _step(f"reusing {SOURCE_DB}.{data.TABLE} ({rows:,} rows)")
    results["source_rows"] = rows
    if args.incremental_only and not data.table_exists(TARGET_DB, TARGET_TABLE):
        raise SystemExit(f"--incremental-only needs {TARGET_DB}.{TARGET_TABLE} from a run with --keep")
    if not args.incremental_only:
        cluster.recreate_database(TARGET_DB)
    log_offset = _log_size()
    if args.profile:
        for db in (SOURCE_DB, TARGET_DB):
            cluster.set_statement_logging(db, SLOW_STATEMENT_MS)

    pipe: dict[str, Any] | None = None
    if not args.incremental_only:
        t = _step(f"binary COPY pipe bench_src -> bench_dst (best of {args.pipe_runs})")
        runs = [copy_pipe() for _ in range(args.pipe_runs)]
        pipe = {**min(runs, key=lambda r: r["seconds"]), "runs_seconds": [r["seconds"] for r in runs]}
        results["copy_pipe"] = pipe
        _done(t)

    env = stage_env()
    profile_dir = PROFILES_DIR if args.profile else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    by_name: dict[str, dict[str, Any]] = {}
    warm = not args.cold_airflow

    try:
        if pipe is not None:
            t = _step("syncgate full sync (5 stage processes)")
            full = report.derive(
                run_flow("full_sync", f"bench_full__{stamp}", env, profile_dir, warm_airflow=warm), pipe
            )
            results["scenarios"].append(full)
            by_name["full_sync"] = full
            results["consistency"].append(_consistent("full_sync"))
            _done(t)
            cluster.checkpoint()

        t = _step("updating 1% of the source rows")
        results["rows_updated"] = data.touch_one_percent(rows)
        cluster.checkpoint()
        _done(t)

        t = _step("syncgate incremental sync (5 stage processes)")
        incr = report.derive(
            run_flow("incremental_1pct", f"bench_incr__{stamp}", env, profile_dir, warm_airflow=warm),
            pipe,
        )
        results["scenarios"].append(incr)
        by_name["incremental_1pct"] = incr
        results["consistency"].append(_consistent("incremental_1pct"))
        _done(t)
    except StageFailed as exc:
        results["error"] = {"scenario": exc.scenario, "stage": exc.stage, "error": exc.error,
                            "log": str(exc.log), "traceback": exc.traceback,
                            "completed_stages": exc.completed}  # fmt: skip
    finally:
        if args.profile:
            for db in (SOURCE_DB, TARGET_DB):
                cluster.set_statement_logging(db, None)
            slow = _slow_statements(log_offset)
            results["profiles"] = {"dir": str(PROFILES_DIR), "slow_statements": str(slow) if slow else None}
    results["host"]["loadavg_end"] = os.getloadavg()
    results["targets"] = report.targets(by_name)
    return results


def _avg(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _print(results: dict[str, Any]) -> None:
    pipe = results.get("copy_pipe")
    scenarios = results.get("scenarios", [])
    if pipe:
        print(
            f"\n## syncgate benchmark: {results['source_rows']:,} source rows, {results['host']['cpus']} CPUs"
        )
        load = results["host"]
        print(
            f"\nload average (1/5/15 min): {_avg(load['loadavg_start'])} at start, "
            f"{_avg(load['loadavg_end'])} at end (other work on this machine skews timings)"
        )
        if results["profiled"]:
            print("\n(profiled run: cProfile + slow statement logging inflate the timings)")
        print("\n" + report.summary_table(pipe, scenarios))
        print(
            "\nstage columns: the stage's own seconds (manifest `seconds`; promote: its call time). "
            "work = their sum; rows/s = rows / work; x pipe = pipe seconds / work (higher is better); "
            "wall = the five process wall times incl. interpreter start-up and imports."
        )
    for sc in scenarios:
        print(f"\n### {sc['scenario']}: {sc['rows']:,} rows, promote {sc['counts']}\n")
        print(report.stage_table(sc))
    for check in results.get("consistency", []):
        state = "match" if check["match"] else f"MISMATCH source={check['source']} target={check['target']}"
        print(f"\ntarget vs source after {check['after']}: {state}")
    if results.get("targets"):
        print("\n" + report.targets_table(results["targets"]))
    if results.get("profiles"):
        print(f"\nprofiles: {results['profiles']}")
    if results.get("error"):
        err = results["error"]
        print(f"\nFAILED in {err['scenario']}/{err['stage']}: {err['error']}\n(log: {err['log']})")
        print(err["traceback"])
    print(f"\nresults: {RESULTS_FILE}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--case", "monitor"] or argv[:1] == ["--case=monitor"]:
        from bench import monitor

        return monitor.main(argv[2:] if argv[0] == "--case" else argv[1:])
    if argv[:2] == ["--case", "http"] or argv[:1] == ["--case=http"]:
        from bench import http

        return http.main(argv[2:] if argv[0] == "--case" else argv[1:])
    if argv[:2] == ["--case", "two_way"] or argv[:1] == ["--case=two_way"]:
        from bench import two_way

        return two_way.main(argv[2:] if argv[0] == "--case" else argv[1:])
    for case in ("latency", "fixed_cost"):
        if argv[:2] == ["--case", case] or argv[:1] == [f"--case={case}"]:
            module = importlib.import_module(f"bench.{case}")
            return int(module.main(argv[2:] if argv[0] == "--case" else argv[1:]))
    if argv[:2] == ["--case", "sync"] or argv[:1] == ["--case=sync"]:
        argv = argv[2:] if argv[0] == "--case" else argv[1:]
    args = _parse(argv)
    if args.case == "ui":
        from bench import ui_health

        return ui_health.main(["--keep"] if args.keep else [])
    results = cluster.run_and_save(lambda: benchmark(args), keep=args.keep, path=RESULTS_FILE)
    _print(results)
    return 1 if results.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
