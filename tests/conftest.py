"""Shared fixtures and the tier policy.

Tiers: ``unit`` (no services), ``dags`` (DagBag), ``integration`` (real PostgreSQL, Airflow
``dag.test()``). Every test must carry exactly one tier marker.

PostgreSQL: ``SYNCGATE_TEST_PG_URL`` (a superuser URL) when set; otherwise the session starts
an embedded cluster with ``scripts/pg_cluster.sh`` and stops it at the end. Each integration
test gets its own throwaway source and target databases.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TIERS = ("unit", "dags", "integration")
TEST_PG_DIR = REPO / ".syncgate" / "pg-test"


def _free_port() -> int:
    # Another checkout's tests, or a demo, may hold a fixed port: ask the kernel for a free one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


TEST_PG_PORT = int(os.environ.get("SYNCGATE_TEST_PG_PORT") or _free_port())
# Airflow reads its configuration at import time: point it at a throwaway home first.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="syncgate-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # dag.test()'s in-process API server signs HS512 task tokens; Airflow's default key (16
        # random bytes) draws PyJWT's InsecureKeyLengthWarning, an error here (pyproject.toml).
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
    }
)
sys.path.insert(0, str(REPO / "include"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        if len(tiers) != 1:
            # Fail (not skip) the test: an unmarked test would silently fall out of a tier run.
            item.add_marker(pytest.mark.usefixtures("_missing_tier_marker"))


@pytest.fixture
def _missing_tier_marker(request: pytest.FixtureRequest) -> None:
    pytest.fail(f"{request.node.nodeid} needs exactly one tier marker of {TIERS}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Superuser URL of a running PostgreSQL server."""
    url = os.environ.get("SYNCGATE_TEST_PG_URL")
    if url:
        yield url
        return
    script = REPO / "scripts" / "pg_cluster.sh"
    subprocess.run(["bash", str(script), "ensure-installed"], check=True, stdout=subprocess.DEVNULL)
    started = subprocess.run(
        ["bash", str(script), "start", str(TEST_PG_DIR), str(TEST_PG_PORT)],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start the test PostgreSQL cluster:\n{started.stderr}", pytrace=False)
    yield started.stdout.strip().splitlines()[-1]
    subprocess.run(["bash", str(script), "stop", str(TEST_PG_DIR)], check=False)


def _with_db(url: str, db: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}"


@pytest.fixture
def databases(pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Fresh ``src`` and ``dst`` databases wired to Airflow connections ``src_db`` / ``dst_db``.

    The target connection carries a password (ignored by the trust-auth test cluster) so
    tests can prove it never leaks into logs, XCom, audit rows or reports.
    """
    import psycopg

    suffix = uuid.uuid4().hex[:10]
    names = {"src": f"sg_src_{suffix}", "dst": f"sg_dst_{suffix}"}
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    urls = {key: _with_db(pg_url, name) for key, name in names.items()}
    secret_dst = urls["dst"].replace("syncgate@", "syncgate:S3cr3t-Pa55word@")
    monkeypatch.setenv("AIRFLOW_CONN_SRC_DB", urls["src"])
    monkeypatch.setenv("AIRFLOW_CONN_DST_DB", secret_dst)
    monkeypatch.setenv("SYNCGATE_LANDING_URL", (tmp_path / "landing").as_uri())
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SYNCGATE_HASH_KEY", "test-key")
    yield {**urls, "secret": "S3cr3t-Pa55word"}
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """An initialised Airflow metadata database (SQLite) for ``dag.test()``."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture
def crm_factory() -> Iterator[Callable[..., Any]]:
    """Start demo CRM servers (``crm_factory(customers=..., contacts=..., seed=..., token=...)``).

    Each runs uvicorn on a free loopback port in a thread; all stop when the test ends.
    """
    from demo.crm.server import CrmServer

    servers: list[CrmServer] = []

    def start(**options: Any) -> CrmServer:
        server = CrmServer(**{"token": "crm-test-token", "customers": 250, "contacts": 400, **options})
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def crm(crm_factory: Callable[..., Any]) -> Any:
    """A fresh demo CRM (250 customers, 400 contacts, seed 42) for one test."""
    return crm_factory()


@pytest.fixture(scope="session")
def crm_session() -> Iterator[Any]:
    """One demo CRM shared by the session: read-only use, or ``crm_session.admin.reset()`` after writes."""
    from demo.crm.server import CrmServer

    with CrmServer(token="crm-test-token", customers=250, contacts=400) as server:
        yield server
