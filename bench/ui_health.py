"""``python -m bench.ui_health``: how fast the UI's health view answers at deployment scale.

    python -m bench.ui_health [--flows 200] [--runs 100000] [--requests 30] [--port N] [--keep]

Seeds the state of ``--flows`` flows with ``--runs`` audit rows in all (plus freshness checks,
incidents and rejected records) in database ``bench_ui`` of the benchmark cluster, serves the
UI app with uvicorn on loopback (mounted under /syncgate, auth satisfied) and times
``/syncgate/api/health.json`` and ``/syncgate/`` over ``--requests`` requests each, after one
cold request that also loads and validates every spec. Prints a markdown table; target < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import cluster
from bench.paths import PORT, STATE_DIR

DB = "bench_ui"
CONN_ID = "bench_ui_db"
TARGET_MS = 300.0

_SEED = """
INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, rows_extracted, rows_inserted,
    rows_updated, rows_deleted, lag_seconds, freshness_status, conflicts, quality_verdict,
    started_at, finished_at, error)
SELECT 'flow_' || lpad(f::text, 4, '0'), 'scheduled__' || r, 'scheduled',
       CASE WHEN r %% 17 = 0 THEN 'failed' WHEN r %% 29 = 0 THEN 'rejected' ELSE 'success' END,
       1000 + r, 10, 20, 1, 60 + (r * 7 + f) %% 900,
       CASE WHEN r %% 13 = 0 THEN 'warn' ELSE 'ok' END,
       CASE WHEN f %% 10 = 0 THEN '{"source_wins": 1}'::jsonb END, 'passed',
       now() - (%(per_flow)s - r) * interval '15 minutes',
       now() - (%(per_flow)s - r) * interval '15 minutes' + interval '30 seconds',
       CASE WHEN r %% 17 = 0 THEN 'source unreachable' END
FROM generate_series(1, %(flows)s) f, generate_series(1, %(per_flow)s) r;
INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, lag_seconds, max_age_seconds,
    warn_age_seconds, status)
SELECT 'flow_' || lpad(f::text, 4, '0'), now() - c * interval '5 minutes', 'monitor', 100 + c, 7200, 3600,
       CASE WHEN f %% 7 = 0 THEN 'breach' WHEN f %% 5 = 0 THEN 'warn' ELSE 'ok' END
FROM generate_series(1, %(flows)s) f, generate_series(1, 24) c;
INSERT INTO syncgate.incidents (flow_id, kind, severity, summary)
SELECT 'flow_' || lpad(f::text, 4, '0'), 'freshness', 'critical', 'data is too old'
FROM generate_series(7, %(flows)s, 7) f;
INSERT INTO syncgate.rejected_records (flow_id, run_id, stage, record_key, reason, record)
SELECT 'flow_' || lpad((g %% %(flows)s + 1)::text, 4, '0'), 'scheduled__1', 'extract',
       jsonb_build_object('id', g), 'bad value', jsonb_build_object('id', g)
FROM generate_series(1, 20000) g;
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100_000, help="audit rows in all (default 100,000)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--port", type=int, default=PORT, help=f"benchmark cluster port (default {PORT})")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    return parser.parse_args(argv)


def _seed(port: int, flows: int, runs: int) -> None:
    import psycopg
    from psycopg import sql

    from syncgate.state.schema import ensure_state_schema

    with psycopg.connect(cluster.url("postgres", port), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    with psycopg.connect(cluster.url(DB, port)) as conn:
        ensure_state_schema(conn)
        params = {"flows": flows, "per_flow": max(1, runs // flows)}
        for statement in filter(str.strip, _SEED.split(";\n")):
            conn.execute(statement, params)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def _specs(folder: Path, flows: int) -> None:
    for f in range(1, flows + 1):
        flow_id = f"flow_{f:04d}"
        spec = {
            "id": flow_id,
            "tags": ["bench", f"group_{f % 10}"],
            "schedule": "*/15 * * * *",
            "source": {
                "type": "postgres",
                "conn_id": "bench_src_db",
                "table": f"public.t{f}",
                "primary_key": ["id"],
            },
            "target": {"type": "postgres", "conn_id": CONN_ID, "table": f"analytics.t{f}", "write": "merge"},
            "freshness": {"column": "updated_at", "max_age": "2h", "warn_age": "1h"},
        }
        (folder / f"{flow_id}.yml").write_text(json.dumps(spec))


def _serve() -> tuple[str, Any]:
    import uvicorn
    from fastapi import FastAPI

    from syncgate.ui.app import create_app
    from syncgate.ui.auth import Viewer, current_viewer

    ui = create_app()
    ui.dependency_overrides[current_viewer] = lambda: Viewer.everyone("bench")
    root = FastAPI()
    root.mount("/syncgate", ui)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _time(client: Any, path: str, n: int, flows: int) -> dict[str, Any]:
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    if path.endswith(".json"):
        shown = len(response.json()["flows"])
    else:
        shown = response.text.count("<tr id=")
    if shown != flows:
        raise RuntimeError(f"{path} showed {shown} flows, expected {flows}")
    ms = sorted(s * 1000 for s in seconds)
    return {
        "path": path,
        "requests": n,
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))],
        "max_ms": ms[-1],
        "bytes": len(response.content),
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    print(f"-- starting PostgreSQL (.syncgate/pg-bench, port {args.port})", file=sys.stderr, flush=True)
    cluster.start(args.port)
    started = time.monotonic()
    _seed(args.port, args.flows, args.runs)
    print(f"-- seeded {args.flows} flows / {args.runs:,} audit rows ({time.monotonic() - started:.1f}s)",
          file=sys.stderr, flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="syncgate-ui-bench-") as tmp:
        _specs(Path(tmp), args.flows)
        os.environ["SYNCGATE_FLOWS_DIR"] = tmp
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = cluster.url(DB, args.port)
        base, server = _serve()
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                cold = time.perf_counter()
                client.get("/syncgate/api/health.json").raise_for_status()
                cold_ms = (time.perf_counter() - cold) * 1000
                rows = [
                    _time(client, p, args.requests, args.flows)
                    for p in ("/syncgate/api/health.json", "/syncgate/")
                ]
        finally:
            server.should_exit = True
    with cluster.connect(DB, port=args.port) as conn:
        audit_rows = conn.execute("SELECT count(*) FROM syncgate.sync_runs").fetchone()
    return {"flows": args.flows, "audit_rows": audit_rows[0] if audit_rows else 0, "cold_ms": cold_ms,
            "loadavg": os.getloadavg(), "cases": rows}  # fmt: skip


def table(results: dict[str, Any]) -> str:
    lines = [
        "| page | flows | audit rows | requests | p50 ms | p95 ms | max ms | KiB | < 300 ms (p95) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in results["cases"]:
        met = "met" if case["p95_ms"] < TARGET_MS else "**not met**"
        lines.append(
            f"| `{case['path']}` | {results['flows']} | {results['audit_rows']:,} | {case['requests']} | "
            f"{case['p50_ms']:.0f} | {case['p95_ms']:.0f} | {case['max_ms']:.0f} | "
            f"{case['bytes'] / 1024:.0f} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    results = cluster.run_and_save(
        lambda: benchmark(args),
        keep=args.keep,
        path=STATE_DIR / "ui_health.json",
    )
    print(f"\n## syncgate UI health view: {results['flows']} flows, {results['audit_rows']:,} audit rows\n")
    print(table(results))
    load = "/".join(f"{v:.1f}" for v in results["loadavg"])
    print(f"\ncold first request (loads and validates every spec): {results['cold_ms']:.0f} ms; "
          f"load average {load}")  # fmt: skip
    return 0 if all(c["p95_ms"] < TARGET_MS for c in results["cases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
