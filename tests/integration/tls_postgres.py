"""A PostgreSQL cluster that accepts TLS connections only, with a certificate from a test CA.

Started by ``scripts/pg_cluster.sh`` like the suite's own cluster (as the ``postgres`` OS user
when root), then switched to ``ssl = on`` with the server certificate and a ``pg_hba.conf``
holding one ``hostssl`` line: a connection without TLS is refused by the server itself.
``log_connections`` records each session's TLS parameters in the server log.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from tls_helpers import ServerCert

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pg_cluster.sh"
HBA = "# Managed by tests/integration/tls_postgres.py: TLS only, no plain host line.\nhostssl all all 127.0.0.1/32 trust\n"


class TlsCluster:
    """``start()`` a TLS-only cluster in ``data_dir``; ``url(db)`` connects to it with verify-full."""

    def __init__(self, data_dir: Path, server: ServerCert, ca: Path) -> None:
        self.data_dir = data_dir
        self.server = server
        self.ca = ca
        self.port = _free_port()
        self.log_file: Path | None = None

    def url(self, db: str = "postgres", host: str = "localhost", **params: str) -> str:
        """A superuser URL for ``db``, verifying the server against the cluster's CA by default."""
        query = {"sslmode": "verify-full", "sslrootcert": str(self.ca), **params}
        tail = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return f"postgresql://syncgate@{host}:{self.port}/{db}?{tail}"

    def start(self) -> TlsCluster:
        _run("ensure-installed")
        _run("destroy", str(self.data_dir))  # a clean slate: an earlier run may have died
        plain = _run("start", str(self.data_dir), str(self.port)).strip().splitlines()[-1]
        with psycopg.connect(plain, autocommit=True) as admin:
            data = Path(_show(admin, "data_directory"))
            hba = Path(_show(admin, "hba_file"))
            owner = data.stat()
            for source, name in ((self.server.cert, "server.crt"), (self.server.key, "server.key")):
                copied = data / name
                shutil.copyfile(source, copied)
                os.chown(copied, owner.st_uid, owner.st_gid)  # the server user must own its key
                copied.chmod(0o600)
            for statement in (
                "ALTER SYSTEM SET ssl = on",
                "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
                "ALTER SYSTEM SET ssl_key_file = 'server.key'",
                "ALTER SYSTEM SET log_connections = on",
            ):
                admin.execute(statement)
            hba.write_text(HBA)  # rewrites the file in place: owner and mode stay the server's
            admin.execute("SELECT pg_reload_conf()")
        self.log_file = data / "postgresql.log"
        self._wait_tls_only(plain)
        return self

    def stop(self) -> None:
        _run("destroy", str(self.data_dir))

    def log_offset(self) -> int:
        """Where the server log ends now: ``log_since`` reads what is written after it."""
        assert self.log_file is not None
        return self.log_file.stat().st_size

    def log_since(self, offset: int) -> str:
        assert self.log_file is not None
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _wait_tls_only(self, plain: str) -> None:
        """pg_reload_conf() only signals the postmaster: wait until TLS works and plain is refused."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not _error(self.url()) and "no encryption" in _error(plain + "?sslmode=disable"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the TLS cluster in {self.data_dir} did not switch to TLS only")


def _error(url: str) -> str:
    """Why connecting to ``url`` fails; empty when it succeeds."""
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return ""


def _show(conn: psycopg.Connection[object], name: str) -> str:
    row = conn.execute(f"SHOW {name}").fetchone()
    assert row is not None
    return str(row[0])


def _run(*args: str) -> str:
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"pg_cluster.sh {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
