"""The benchmark's own PostgreSQL cluster (scripts/pg_cluster.sh) and its databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.paths import CLUSTER_DIR, PORT, REPO_ROOT

if TYPE_CHECKING:
    import psycopg

SCRIPT = REPO_ROOT / "scripts" / "pg_cluster.sh"
ROLE = "syncgate"


class ClusterError(RuntimeError):
    """pg_cluster.sh failed."""


def _script(*args: str) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ClusterError(
            f"pg_cluster.sh {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip()


def start(port: int = PORT) -> str:
    """Start (initdb on first use) the cluster; returns the server URL."""
    return _script("start", str(CLUSTER_DIR.relative_to(REPO_ROOT)), str(port))


def stop() -> None:
    _script("stop", str(CLUSTER_DIR.relative_to(REPO_ROOT)))


def run_and_save(benchmark: Callable[[], dict[str, Any]], *, keep: bool, path: Path) -> dict[str, Any]:
    """Run a benchmark, stop the cluster unless ``keep`` (even on failure), save its results."""
    results: dict[str, Any] = {}
    try:
        results = benchmark()
    finally:
        if not keep:
            try:
                stop()
            except ClusterError as exc:
                print(f"warning: {exc}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def url(dbname: str, port: int = PORT) -> str:
    return f"postgresql://{ROLE}@127.0.0.1:{port}/{dbname}"


def server_log() -> Path:
    """The server log (the data dir may be a symlink to /var/tmp when run as root)."""
    return Path(os.path.realpath(CLUSTER_DIR)) / "postgresql.log"


def connect(dbname: str, *, autocommit: bool = True, port: int = PORT) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(url(dbname, port), autocommit=autocommit)


def database_exists(dbname: str) -> bool:
    with connect("postgres") as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    return row is not None


def recreate_database(dbname: str) -> None:
    from psycopg import sql

    with connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def set_statement_logging(dbname: str, min_ms: int | None) -> None:
    """Log every statement slower than ``min_ms`` in the server log (None: back to default)."""
    from psycopg import sql

    with connect("postgres") as conn:
        if min_ms is None:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RESET log_min_duration_statement").format(sql.Identifier(dbname))
            )
        else:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = {}").format(
                    sql.Identifier(dbname), sql.Literal(min_ms)
                )
            )


def checkpoint() -> None:
    """Flush dirty buffers so a previous phase's writes do not bill the next one."""
    with connect("postgres") as conn:
        conn.execute("CHECKPOINT")
