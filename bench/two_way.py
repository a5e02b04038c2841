"""``make bench BENCH_ARGS="--case two_way"``: a two-way PostgreSQL <-> PostgreSQL sync.

    python -m bench.run --case two_way [--rows 100000 1000000] [--changed 2000] [--conflicts 200]
                                       [--keep] [--profile]

Per table size: two databases (sides ``a`` and ``b``) hold the same ``public.items`` (a trigger
stamps ``updated_at`` on every insert and update, as applications do); the first sync merges
them (set-up: every record is new to syncgate, timed and reported but not the measured run);
then each side changes ``--changed`` records (2% of 100,000), ``--conflicts`` of them (0.2%)
the same field to different values on both sides, and the measured sync runs. Every stage runs
in its own child process, as Airflow runs tasks (``bench.two_way_stage``). Deletes are ``soft``:
a hard delete leaves no trace to read, so finding one needs the side's whole key set every run
(O(table), see BENCHMARKS.md). Results go to .syncgate/bench/two_way.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cluster
from bench.child import run_child
from bench.paths import LANDING_DIR, LOGS_DIR, PORT, PROFILES_DIR, REPO_ROOT, REPORTS_DIR, STATE_DIR

SIDES = ("a", "b")
DATABASES = {"a": "bench_tw_a", "b": "bench_tw_b"}
FLOW_ID = "bench_two_way"
RESULTS = STATE_DIR / "two_way.json"

# The goals the engine is measured against (ISSUE 11, "Performance").
TARGET_MERGE_SHARE = 0.20  # detection + resolution: share of the run's stage work
TARGET_SCALE_RATIO = 1.5  # the 1M-record run's stage work / the 100k-record run's
TARGET_PEAK_RSS_MB = 400.0  # per task process

_TABLE = """
CREATE TABLE public.items (
    id bigint PRIMARY KEY, sku text NOT NULL, name text, price numeric(12,2), qty int,
    attrs jsonb, active boolean NOT NULL, deleted boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX items_updated_at ON public.items (updated_at);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION stamp();
"""
# The same records on both sides (the trigger stamps each side's own updated_at).
_INSERT = """
INSERT INTO public.items (id, sku, name, price, qty, attrs, active)
SELECT g, 'SKU-' || lpad(to_hex((g * 2654435761) %% 4294967296), 8, '0'),
       CASE WHEN g %% 50 = 0 THEN NULL ELSE 'Item ' || md5(g::text) END,
       ((g * 7919) %% 100000) / 100.0, (g * 31) %% 500,
       CASE WHEN g %% 40 = 0 THEN NULL
            ELSE jsonb_build_object('color', (ARRAY['red', 'green', 'blue'])[1 + g %% 3], 'size', g %% 7) END,
       g %% 10 <> 0
FROM generate_series(%s::bigint, %s::bigint) AS g
"""


class StageFailed(RuntimeError):
    def __init__(self, label: str, error: str, log: Path, trace: str) -> None:
        super().__init__(f"{label} failed: {error} (log: {log})\n{trace}")


def flow_spec() -> dict[str, Any]:
    side = {"type": "postgres", "table": "public.items", "primary_key": ["id"], "cursor": "updated_at",
            "deletes": "soft", "soft_delete_column": "deleted"}  # fmt: skip
    return {
        "id": FLOW_ID,
        "mode": "two_way",
        "sides": {name: {**side, "conn_id": DATABASES[name]} for name in SIDES},
        "match": ["id"],
        "conflicts": {"default": "newest_wins", "tie_break": list(SIDES), "deletes": "update_wins"},
        "quality": {
            "expectations": [
                {"type": "expect_column_values_to_be_between",
                 "kwargs": {"column": "qty", "min_value": 0, "max_value": 100000}},
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "sku"}},
            ]
        },
    }  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [
        str(REPO_ROOT / "include"),
        str(REPO_ROOT),
        *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []),
    ]
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        SYNCGATE_LANDING_URL=LANDING_DIR.as_uri(),
        SYNCGATE_REPORTS_DIR=str(REPORTS_DIR),
        **{f"AIRFLOW_CONN_{db.upper()}": cluster.url(db) for db in DATABASES.values()},
    )
    env.setdefault("AIRFLOW_HOME", str(STATE_DIR / "airflow-home"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
    return env


def _stage(label: str, request: dict[str, Any], env: dict[str, str], profile: bool) -> dict[str, Any]:
    """One stage in a child process: its output, own seconds, wall time and peak RSS."""
    log_path = LOGS_DIR / f"{label}.log"
    if profile:
        request = {**request, "profile": str(PROFILES_DIR / f"{label}.prof")}
    done = run_child("bench.two_way_stage", request, env, log_path)
    result = done.result
    if not result.get("ok"):
        raise StageFailed(label, result.get("error") or "no result", log_path, result.get("traceback", ""))
    return {
        "seconds": result["call_seconds"],
        "import_seconds": result["import_seconds"],
        "wall_seconds": done.wall_seconds,
        "peak_rss_mb": done.peak_rss_mb,
        "output": result["output"],
    }


def run_sync(label: str, env: dict[str, str], profile: bool) -> dict[str, Any]:
    """One sync run, every stage in the order Airflow may run them (sides one after another)."""
    spec = flow_spec()
    run = {
        "flow_id": FLOW_ID,
        "run_id": f"{label}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
        "run_type": "manual",
    }
    base = {"spec": spec, "run": run, "warm_airflow": True}
    stages: dict[str, dict[str, Any]] = {}

    def step(stage: str, side: str | None, inputs: dict[str, Any]) -> Any:
        name = f"{stage}_{side}" if side else stage
        print(f"   {name}", file=sys.stderr, flush=True)
        done = _stage(
            f"{label}-{name}", {**base, "stage": stage, "side": side, "inputs": inputs}, env, profile
        )
        stages[name] = done
        return done["output"]

    extracted = {s: step("extract", s, {}) for s in SIDES}
    transformed = {s: step("transform", s, {"extracted": extracted}) for s in SIDES}
    plan = step("reconcile", None, {"transformed": transformed})
    for s in SIDES:
        staged = step("load", s, {"transformed": transformed[s], "plan": plan["sides"][s]})
        verified = step("verify", s, {"staged": staged})
        step("promote", s, {"extracted": extracted[s], "transformed": transformed[s],
                            "plan": plan["sides"][s], "verified": verified})  # fmt: skip
    work = sum(st["seconds"] for st in stages.values())
    merge = float(plan.get("merge_seconds") or 0.0)
    changes = sum(int(t["count"]) for t in transformed.values())
    return {
        "label": label,
        "records_read": changes,
        "plan": {k: v for k, v in plan.items() if k != "sides"}
        | {"sides": {s: {k: v for k, v in d.items() if k != "plan"} for s, d in plan["sides"].items()}},
        "applied": {s: stages[f"promote_{s}"]["output"] for s in SIDES},
        "stages": {name: {k: v for k, v in st.items() if k != "output"} for name, st in stages.items()},
        "work_seconds": work,
        "merge_seconds": merge,
        "merge_share": merge / work if work else None,
        "records_per_second": changes / work if work else None,
        "wall_seconds": sum(st["wall_seconds"] for st in stages.values()),
        "peak_rss_mb": max(st["peak_rss_mb"] for st in stages.values()),
    }


def _create() -> None:
    for db in DATABASES.values():
        cluster.recreate_database(db)
        with cluster.connect(db) as conn:
            conn.execute(_TABLE)


def _insert(first: int, last: int) -> None:
    for db in DATABASES.values():
        with cluster.connect(db) as conn:
            conn.execute(_INSERT, (first, last))
            conn.execute("VACUUM ANALYZE public.items")


def _set_up(rows: int, batch: int, env: dict[str, str], profile: bool) -> dict[str, Any]:
    """The first sync: every record new to syncgate, in syncs of ``batch`` new records each.

    Reconcile holds a run's changes, bases and outcomes in memory (~1.3 GB per 100,000 new
    records on both sides), so a 1M-record table reaches its first sync in waves, as a side
    filled over time would; the state it leaves is exactly what the engine writes.
    """
    _create()
    waves: list[dict[str, Any]] = []
    for first in range(1, rows + 1, batch):
        last = min(rows, first + batch - 1)
        print(
            f"-- set-up: records {first:,}-{last:,} on both sides, then a sync", file=sys.stderr, flush=True
        )
        _insert(first, last)
        cluster.checkpoint()
        waves.append(run_sync(f"first{rows}_{first}", env, profile))
    if len(waves) == 1:
        return waves[0]
    stages = {name: dict(waves[0]["stages"][name]) for name in waves[0]["stages"]}
    for name, stage in stages.items():
        stage["seconds"] = sum(w["stages"][name]["seconds"] for w in waves)
        stage["peak_rss_mb"] = max(w["stages"][name]["peak_rss_mb"] for w in waves)
    work = sum(w["work_seconds"] for w in waves)
    merge = sum(w["merge_seconds"] for w in waves)
    read = sum(w["records_read"] for w in waves)
    return {
        "label": f"first{rows}", "waves": len(waves), "records_read": read, "stages": stages,
        "work_seconds": work, "merge_seconds": merge, "merge_share": merge / work if work else None,
        "records_per_second": read / work if work else None,
        "wall_seconds": sum(w["wall_seconds"] for w in waves),
        "peak_rss_mb": max(w["peak_rss_mb"] for w in waves),
        "plan": [w["plan"] for w in waves], "applied": [w["applied"] for w in waves],
    }  # fmt: skip


def _edit_ids(rows: int, changed: int, conflicts: int) -> dict[str, list[int]]:
    """Scattered record ids: ``conflicts`` edited on both sides, the rest on one side each."""
    total = 2 * changed - conflicts
    stride = max(1, rows // total)
    ids = [1 + i * stride for i in range(total)]
    random.Random(11).shuffle(ids)
    return {
        "both": sorted(ids[:conflicts]),
        "a": sorted(ids[conflicts:changed]),
        "b": sorted(ids[changed:total]),
    }


def _edit(ids: dict[str, list[int]]) -> None:
    """Each side: its own records' fields (a: qty, b: price), and ``name`` of the shared ones."""
    with cluster.connect(DATABASES["a"]) as conn:
        conn.execute("UPDATE public.items SET qty = qty + 1 WHERE id = ANY(%s)", (ids["a"],))
        conn.execute("UPDATE public.items SET name = 'edited on a' WHERE id = ANY(%s)", (ids["both"],))
    with cluster.connect(DATABASES["b"]) as conn:
        conn.execute("UPDATE public.items SET price = price + 1 WHERE id = ANY(%s)", (ids["b"],))
        conn.execute("UPDATE public.items SET name = 'edited on b' WHERE id = ANY(%s)", (ids["both"],))


def _fingerprint(db: str, columns: str) -> str:
    with cluster.connect(db) as conn:
        row = conn.execute(
            f"SELECT md5(string_agg(concat_ws('|', {columns}), ',' ORDER BY id)) FROM public.items"
        ).fetchone()
    return str(row[0]) if row else ""


def _check(ids: dict[str, list[int]]) -> dict[str, Any]:
    """The sides agree, the shared edits went to b (newest wins), both one-sided edits travelled."""
    every = "id, sku, name, price, qty, attrs, active, deleted"
    prints = {s: _fingerprint(DATABASES[s], every) for s in SIDES}
    # The PostgreSQL side writer sends a jsonb value landed as JSON text through json.dumps, so
    # the other side receives a JSON string (reported apart, see BENCHMARKS.md).
    plain = {s: _fingerprint(DATABASES[s], every.replace(", attrs", "")) for s in SIDES}
    with cluster.connect(DATABASES["a"]) as conn:
        names = conn.execute(
            "SELECT count(*) FROM public.items WHERE id = ANY(%s) AND name = 'edited on b'", (ids["both"],)
        ).fetchone()
        logged = conn.execute(
            "SELECT count(*) FROM syncgate.sync_conflicts WHERE flow_id = %s", (FLOW_ID,)
        ).fetchone()
    return {
        "sides_match": prints["a"] == prints["b"],
        "sides_match_except_attrs": plain["a"] == plain["b"],
        "conflicts_won_by_b": int(names[0]) if names else 0,
        "conflicts_logged": int(logged[0]) if logged else 0,
    }


def _state_sizes() -> dict[str, int]:
    with cluster.connect(DATABASES["a"]) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM syncgate.{t}").fetchone()[0])  # type: ignore[index]
            for t in ("sync_records", "sync_ledger", "sync_pending", "sync_conflicts")
        }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "changed_per_side": args.changed,
        "conflicts": args.conflicts,
        "profiled": args.profile,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "sizes": [],
    }
    print(f"-- starting PostgreSQL (.syncgate/pg-bench, port {PORT})", file=sys.stderr, flush=True)
    cluster.start()
    env = _env()
    for rows in args.rows:
        for path in (LANDING_DIR, REPORTS_DIR, LOGS_DIR, *([PROFILES_DIR] if args.profile else [])):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
        first = _set_up(rows, args.setup_batch, env, args.profile)
        ids = _edit_ids(rows, args.changed, args.conflicts)
        _edit(ids)
        cluster.checkpoint()
        print("-- measured sync", file=sys.stderr, flush=True)
        measured = run_sync(f"sync{rows}", env, args.profile)
        results["sizes"].append(
            {
                "rows": rows,
                "first_sync": first,
                "measured": measured,
                "check": _check(ids),
                "state_rows": _state_sizes(),
            }  # fmt: skip
        )
        # A 1M-record size takes a while: keep what the smaller ones measured.
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    results["host"]["loadavg_end"] = os.getloadavg()
    results["targets"] = targets(results["sizes"])
    return results


def targets(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for size in sizes:
        m = size["measured"]
        checks.append({"target": f"{size['rows']:,}: detection + resolution <= {TARGET_MERGE_SHARE:.0%} of stage work",
                       "measured": f"{m['merge_share']:.1%}", "ok": m["merge_share"] <= TARGET_MERGE_SHARE})  # fmt: skip
        checks.append({"target": f"{size['rows']:,}: peak RSS < {TARGET_PEAK_RSS_MB:g} MB per task",
                       "measured": f"{m['peak_rss_mb']:.0f} MB", "ok": m["peak_rss_mb"] < TARGET_PEAK_RSS_MB})  # fmt: skip
    by_rows = {s["rows"]: s["measured"]["work_seconds"] for s in sizes}
    if len(by_rows) > 1:
        small, large = min(by_rows), max(by_rows)
        ratio = by_rows[large] / by_rows[small]
        checks.append({"target": f"{large:,} records within {TARGET_SCALE_RATIO}x of {small:,}",
                       "measured": f"{ratio:.2f}x", "ok": ratio <= TARGET_SCALE_RATIO})  # fmt: skip
    return checks


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *("--:" for _ in header[1:])]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _print(results: dict[str, Any]) -> None:
    print(f"\n## syncgate two-way benchmark: {results['changed_per_side']:,} changed per side, "
          f"{results['conflicts']:,} in conflict, {results['host']['cpus']} CPUs")  # fmt: skip
    load = results["host"]
    print(f"\nload average: {load['loadavg_start']} at start, {load.get('loadavg_end')} at end")
    if results["profiled"]:
        print("\n(profiled run: cProfile inflates the timings)")
    for size in results.get("sizes", []):
        runs = [
            (f"first sync (set-up, {size['first_sync'].get('waves', 1)} sync(s))", size["first_sync"]),
            ("measured sync", size["measured"]),
        ]
        names = list(size["measured"]["stages"])
        print(f"\n### {size['rows']:,} records per side\n")
        print(_table(
            ["run", *(f"{n} s" for n in names), "work s", "merge s", "merge share", "records", "records/s", "peak RSS MB"],
            [[label, *(f"{r['stages'][n]['seconds']:.2f}" for n in names), f"{r['work_seconds']:.2f}",
              f"{r['merge_seconds']:.3f}", f"{r['merge_share']:.1%}", f"{r['records_read']:,}",
              f"{r['records_per_second']:,.0f}", f"{r['peak_rss_mb']:.0f}"] for label, r in runs],
        ))  # fmt: skip
        print("\npeak RSS MB per stage (measured): "
              + ", ".join(f"{n} {v['peak_rss_mb']:.0f}" for n, v in size["measured"]["stages"].items()))  # fmt: skip
        print(f"plan: {size['measured']['plan']}")
        print(f"applied: {size['measured']['applied']}")
        print(f"check: {size['check']}; state rows: {size['state_rows']}")
    print("\n" + _table(["target", "measured", "met"],
                        [[c["target"], c["measured"], "yes" if c["ok"] else "NO"] for c in results["targets"]]))  # fmt: skip
    if results.get("error"):
        print(f"\nFAILED: {results['error']}")
    print(f"\nresults: {RESULTS}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run --case two_way", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="records per side, per case"
    )
    parser.add_argument(
        "--changed", type=int, default=2_000, help="records changed on each side (default 2,000)"
    )
    parser.add_argument(
        "--conflicts", type=int, default=200, help="of those, edited on both sides (default 200)"
    )
    parser.add_argument(
        "--setup-batch", type=int, default=100_000, help="new records per set-up sync (default 100,000)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    parser.add_argument("--profile", action="store_true", help="cProfile each stage (inflates timings)")
    args = parser.parse_args(argv)
    if not 0 <= args.conflicts <= args.changed or any(r < 2 * args.changed for r in args.rows):
        parser.error("need 0 <= --conflicts <= --changed and every --rows >= 2 x --changed")
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)

    def measured() -> dict[str, Any]:
        try:
            return benchmark(args)
        except StageFailed as exc:
            return {"error": str(exc), "sizes": [], "targets": [], "changed_per_side": args.changed,
                    "conflicts": args.conflicts, "profiled": args.profile, "host": {"cpus": os.cpu_count(),
                    "loadavg_start": None}}  # fmt: skip

    results = cluster.run_and_save(measured, keep=args.keep, path=RESULTS)
    _print(results)
    return 1 if results.get("error") else 0
