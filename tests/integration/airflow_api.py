"""A real ``airflow api-server`` (one uvicorn worker, SimpleAuthManager) for the plugin's tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "ui-test-Pa55"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_server(
    tmp_path: Path, *, python: str = sys.executable, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The server's base URL; it inherits ``os.environ`` (connections, flows folder) as it is now
    and loads this checkout's plugins, unless ``env`` (an installed syncgate's) replaces both.

    Its output goes to ``tmp_path / "api-server.log"``.
    """
    port = free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    checkout = {"AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "PYTHONPATH": str(REPO / "include")}
    installed = env is not None
    env = {
        **(env if installed else {**os.environ, **checkout}),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    }
    log_path = tmp_path / "api-server.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [
            python,
            "-m",
            "airflow",
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],  # fmt: skip
        env=env,
        cwd=tmp_path if installed else None,  # an installed syncgate's server: not from this checkout
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn worker is stopped with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"api-server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
