"""``python -m bench.run --case http``: an HTTP API -> PostgreSQL sync against a plain download loop.

Starts the demo CRM in its own process with ``--records`` customers, then in the same run:

1. a warm-up pass, so both measurements meet the same (cached) server;
2. the limit set by the API: a plain loop that only downloads and decodes the same pages
   (requests, gzip, ``json()``), best of ``--loop-runs``;
3. syncgate: the five stages of a full sync of those records into PostgreSQL (one process each,
   like ``make bench``), paged at the same size.

Reports records/s and the ratio to the loop, for the extract alone (the stage that talks to the
API) and for the whole quality-gated flow. Target: >= 0.7x of the loop. Results go to
``.syncgate/bench/http.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import cluster
from bench.paths import REPO_ROOT, STATE_DIR
from bench.sync import run_flow, stage_env

DB = "bench_http"
FLOW_ID = "bench_crm"
TOKEN = "bench-token"
TARGET_RATIO = 0.7
RESULTS = STATE_DIR / "http.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run --case http", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--records", type=int, default=200_000, help="CRM customers (default 200,000)")
    parser.add_argument("--page-size", type=int, default=1000, help="records per page (default 1,000)")
    parser.add_argument("--loop-runs", type=int, default=2, help="time the plain loop N times, keep the best")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    return parser.parse_args(argv)


def spec(page_size: int) -> dict[str, Any]:
    """The flow under test: the demo's CRM customers flow, minus hashing (no key needed)."""
    return {
        "id": FLOW_ID,
        "source": {
            "type": "http",
            "conn_id": "bench_crm",
            "endpoint": "/v1/customers",
            "records": "data.items",
            "primary_key": ["id"],
            "cursor": "updated_at",
            "cursor_param": "updated_since",
            "params": {"status": "all"},
            "fields": {
                "city": "address.city",
                "country": {"path": "address.country", "type": "text"},
                "updated_at": {"path": "updated_at", "type": "timestamp with time zone"},
                "lifetime_value": {"path": "lifetime_value", "type": "numeric(12,2)"},
            },
            "pagination": {
                "style": "page",
                "page_param": "page",
                "size_param": "per_page",
                "size": page_size,
            },
        },
        "target": {"type": "postgres", "conn_id": "bench_http", "table": "crm.customers", "write": "merge"},
        "quality": {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "status", "value_set": ["active", "inactive", "lead"]},
                }
            ]
        },
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_crm(records: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "include"), "SYNCGATE_CRM_TOKEN": TOKEN}
    command = [sys.executable, "-m", "demo.crm", "--port", str(port), "--customers", str(records)]
    command += ["--contacts", "0", "--seed", "1", "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"the demo CRM exited with code {server.returncode}")
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return server, url
        except requests.RequestException:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the demo CRM did not start within 2 minutes")


def download_loop(url: str, page_size: int) -> dict[str, Any]:
    """The API's limit: fetch and decode every page, nothing else."""
    import requests

    started = time.monotonic()
    records = pages = wire = 0
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip"})
        page = 1
        while True:
            response = session.get(
                f"{url}/v1/customers",
                params={"page": page, "per_page": page_size, "status": "all"},
                stream=True,
            )
            response.raise_for_status()
            body = response.raw.read(decode_content=True)
            wire += response.raw.tell()
            items = json.loads(body)["data"]["items"]
            pages += 1
            records += len(items)
            if len(items) < page_size:
                break
            page += 1
    seconds = time.monotonic() - started
    return {"seconds": seconds, "records": records, "pages": pages, "bytes_wire": wire}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": args.records,
        "page_size": args.page_size,
        "loadavg_start": os.getloadavg(),
    }
    cluster.start()
    cluster.recreate_database(DB)
    server, url = _start_crm(args.records)
    try:
        download_loop(url, args.page_size)  # warm-up: the server caches each record's JSON
        loops = [download_loop(url, args.page_size) for _ in range(args.loop_runs)]
        results["loop"] = min(loops, key=lambda r: r["seconds"])
        results["loop_runs_seconds"] = [r["seconds"] for r in loops]
        env = stage_env()
        host, port = url.removeprefix("http://").split(":")
        env["AIRFLOW_CONN_BENCH_CRM"] = json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "password": TOKEN}
        )
        env["AIRFLOW_CONN_BENCH_HTTP"] = cluster.url(DB)
        flow = run_flow("http_full", f"bench_http__{int(time.time())}", env, spec=spec(args.page_size))
        results["sync"] = flow
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["loadavg_end"] = os.getloadavg()
    return results


def table(results: dict[str, Any]) -> str:
    loop, flow = results["loop"], results["sync"]
    extract = flow["stages"]["extract"]["stage_seconds"]
    work = flow["work_seconds"]
    n = flow["rows"]
    rows = [
        ("plain download + decode loop", loop["seconds"], loop["records"] / loop["seconds"], 1.0),
        ("syncgate extract (API -> landed Parquet)", extract, n / extract, loop["seconds"] / extract),
        ("syncgate full sync (5 stages, quality-gated)", work, n / work, loop["seconds"] / work),
    ]
    lines = [
        f"HTTP API -> PostgreSQL: {n:,} records, {results['page_size']:,} per page, "
        f"{loop['bytes_wire'] / 1e6:.1f} MB on the wire (gzip)",
        "",
        "| | seconds | records/s | x loop |",
        "|---|--:|--:|--:|",
    ]
    lines += [f"| {name} | {secs:.2f} | {rate:,.0f} | {ratio:.2f}x |" for name, secs, rate, ratio in rows]
    stages = ", ".join(f"{k} {v['stage_seconds']:.2f}" for k, v in flow["stages"].items())
    verdict = "met" if loop["seconds"] / work >= TARGET_RATIO else "not met"
    lines += ["", f"stages (s): {stages}", f"target: full sync >= {TARGET_RATIO}x the loop: {verdict}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    results = cluster.run_and_save(lambda: benchmark(args), keep=args.keep, path=RESULTS)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
