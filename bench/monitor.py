"""``python -m bench.monitor`` (or ``python -m bench.run --case monitor``): one monitor run over N flows.

Seeds one warehouse database with N flows (a target table of ``--rows`` rows each, an index-free
``updated_at``, and ``--runs`` audit rows per flow with some failures and a few stale targets),
writes their specs and a ``_defaults.yml`` with a webhook notifier (a loopback receiver), then
times what the monitor task does: load the specs, then evaluate every flow. The first
evaluation opens incidents and sends their notices; the following ones are the steady state.
Target: a monitor run for 200 flows costs < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import cluster
from bench.paths import STATE_DIR

DB = "bench_monitor"
TARGET_SECONDS = 2.0
STALE_EVERY = 20  # every 20th flow's target is stale: 10 of 200 open a freshness incident
FAILING_EVERY = 25  # every 25th flow ends with 3 failed runs: a failures incident

SPEC = """id: {id}
schedule: "*/15 * * * *"
source: {{type: postgres, conn_id: bench_src, table: public.items, primary_key: [id], cursor: updated_at}}
target: {{type: postgres, conn_id: bench_monitor, table: analytics.{id}}}
freshness: {{column: updated_at, max_age: 2h, warn_age: 1h}}
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=200, help="flows to monitor (default 200)")
    parser.add_argument("--rows", type=int, default=1000, help="rows per target table (default 1000)")
    parser.add_argument("--runs", type=int, default=30, help="audit rows per flow (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="steady-state evaluations timed (default 5)")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="PostgreSQL port (default: a free one; the sync bench cluster may hold its own)",
    )
    args = parser.parse_args(argv)
    args.port = args.port or _free_port()
    return args


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(flows: int, rows: int, runs: int, now: datetime, port: int) -> None:
    from psycopg import sql

    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with cluster.connect("postgres", port=port) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    with connect("bench_monitor") as conn:
        ensure_state_schema(conn)
        conn.execute("CREATE SCHEMA analytics")
        for i in range(flows):
            flow = f"flow_{i:03d}"
            newest = now - (timedelta(hours=3) if i % STALE_EVERY == 0 else timedelta(minutes=10))
            conn.execute(
                f"CREATE TABLE analytics.{flow} (id bigint PRIMARY KEY, payload text, updated_at timestamptz)"
            )
            conn.execute(
                f"INSERT INTO analytics.{flow} SELECT g, md5(g::text), %s - (g * interval '1 second') "
                "FROM generate_series(0, %s - 1) g",
                (newest, rows),
            )
            conn.execute(
                """
                INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, started_at, finished_at,
                                                lag_seconds, high_water_mark)
                SELECT %(flow)s, 'scheduled__' || g, 'scheduled',
                       CASE WHEN %(failing)s AND g >= %(runs)s - 3 THEN 'failed' ELSE 'success' END,
                       %(now)s - (%(runs)s - g) * interval '15 minutes',
                       %(now)s - (%(runs)s - g) * interval '15 minutes' + (20 + g %% 7) * interval '1 second',
                       60 + g %% 11, %(now)s::text
                FROM generate_series(0, %(runs)s - 1) g
                """,
                {"flow": flow, "failing": i % FAILING_EVERY == 1, "runs": runs, "now": now},
            )
        conn.execute("ANALYZE")
        conn.commit()


class _Receiver:
    def __init__(self) -> None:
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.count += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from syncgate.observe.monitor import monitor
    from syncgate.spec.loader import load_defaults, load_specs

    now = datetime.now(UTC)
    receiver = _Receiver()
    os.environ["AIRFLOW_CONN_BENCH_MONITOR"] = cluster.url(DB, args.port)
    os.environ["AIRFLOW_CONN_BENCH_HOOK"] = json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{receiver.port}/hook"}
    )
    t = time.perf_counter()
    seed(args.flows, args.rows, args.runs, now, args.port)
    seed_seconds = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp(prefix="bench-monitor-flows-"))
    for i in range(args.flows):
        (folder / f"flow_{i:03d}.yml").write_text(SPEC.format(id=f"flow_{i:03d}"))
    (folder / "_defaults.yml").write_text(
        "alerts:\n  notifiers: [{type: webhook, conn_id: bench_hook}]\n  renotify_every: 1h\n"
    )

    def one_run() -> tuple[float, float, Any]:
        started = time.perf_counter()
        defaults = load_defaults(folder).alerts
        specs = [item.spec for item in load_specs(folder) if item.spec is not None]
        loaded = time.perf_counter()
        result = monitor(specs, defaults, base_url="http://airflow.bench")
        return loaded - started, time.perf_counter() - loaded, result

    load_s, eval_s, first = one_run()
    first_notices = receiver.count
    steady = [one_run() for _ in range(args.repeat)]
    best = min(steady, key=lambda r: r[0] + r[1])
    return {
        "flows": args.flows,
        "rows_per_target": args.rows,
        "runs_per_flow": args.runs,
        "seed_seconds": seed_seconds,
        "first": {"load_specs": load_s, "evaluate": eval_s, "total": load_s + eval_s,
                  "notices": first_notices, "freshness": first.freshness, "errors": first.errors},
        "steady": {"load_specs": best[0], "evaluate": best[1], "total": best[0] + best[1],
                   "runs_totals": [round(a + b, 3) for a, b, _ in steady],
                   "notices": receiver.count - first_notices},
        "loadavg": os.getloadavg(),
    }  # fmt: skip


def table(results: dict[str, Any]) -> str:
    first, steady = results["first"], results["steady"]
    worst = max(first["total"], steady["total"])
    rows = [
        "| case | flows | load specs s | evaluate s | total s | notices sent | target | met |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|",
        f"| monitor, first run | {results['flows']} | {first['load_specs']:.3f} | {first['evaluate']:.3f} | "
        f"{first['total']:.3f} | {first['notices']} | < {TARGET_SECONDS:g} s | {'yes' if first['total'] < TARGET_SECONDS else 'NO'} |",
        f"| monitor, steady state (best of {len(steady['runs_totals'])}) | {results['flows']} | "
        f"{steady['load_specs']:.3f} | {steady['evaluate']:.3f} | {steady['total']:.3f} | {steady['notices']} | "
        f"< {TARGET_SECONDS:g} s | {'yes' if steady['total'] < TARGET_SECONDS else 'NO'} |",
    ]
    note = (
        f"\nfreshness seen: {first['freshness']}; steady-state totals {steady['runs_totals']}; "
        f"load average {'/'.join(f'{v:.1f}' for v in results['loadavg'])}; worst {worst:.3f} s"
    )
    return "\n".join(rows) + note


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
    os.environ.setdefault("AIRFLOW_HOME", str(STATE_DIR / "airflow-home"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
    import airflow.sdk  # noqa: F401  (the monitor task runs inside an already started Airflow worker)

    cluster.start(args.port)
    out = STATE_DIR / "monitor.json"
    results = cluster.run_and_save(lambda: benchmark(args), keep=args.keep, path=out)
    print(f"\n## syncgate monitor benchmark: {results['flows']} flows\n")
    print(table(results))
    print(f"\nresults: {out}")
    return 0 if max(results["first"]["total"], results["steady"]["total"]) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
