"""A real Airflow 3 stack for benchmarks and tests: embedded PostgreSQL + the four components.

    with AirflowStack(state_dir, flows_dir, databases=["src", "dst"]) as stack:
        stack.wait_for_dag("my_flow")
        stack.unpause("my_flow")
        run_id = stack.trigger("my_flow")
        stack.wait_for_run("my_flow", run_id)

Runs Airflow as ``make demo`` does (LocalExecutor, PostgreSQL metadata, the repo's dags/ and
plugins/, 4 task slots, 1 API worker, 1 parsing process), but each component as its own process
(scheduler, triggerer, dag-processor, api-server) rather than ``airflow standalone``: each one
is started, timed and stopped on its own. The flows folder (``SYNCGATE_FLOWS_DIR``) is the
caller's: write spec YAML files into it before ``wait_for_dag``.

The REST API is called as an admin without a login (``simple_auth_manager_all_admins``): the
stack listens on loopback only and lives as long as one benchmark or test.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_SCRIPT = REPO_ROOT / "scripts" / "pg_cluster.sh"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
METADATA_DB = "airflow"
# Sent SIGTERM in this order: nothing new gets scheduled while the rest stop; the API server
# goes last because task processes still running report to it.
STOP_ORDER = ("scheduler", "triggerer", "dag-processor", "api-server")
STOP_TIMEOUT = 30.0
FINAL_RUN_STATES = frozenset({"success", "failed"})

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A component did not start, exited early, or an API call failed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class AirflowStack:
    """Embedded PostgreSQL + Airflow scheduler, triggerer, dag-processor and api-server.

    ``settings``: extra Airflow configuration as environment variables
    (``{"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2"}``), applied to every component.
    ``databases``: databases created beside the metadata DB (the flows' sources and targets);
    ``connections``: Airflow connection id -> one of those database names (or a full URL).
    ``pg_dir``: the cluster's data directory (kept between stacks: initdb takes a while);
    ``fresh_metadata`` drops and re-migrates the metadata DB (otherwise an existing one is reused,
    migrated again, which is quick when nothing changed).
    """

    state_dir: Path
    flows_dir: Path
    databases: list[str] = field(default_factory=list)
    connections: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    pg_dir: Path | None = None
    pg_port: int | None = None
    api_port: int | None = None
    fresh_metadata: bool = False
    components: dict[str, Component] = field(default_factory=dict, init=False)
    _pg_started: bool = field(default=False, init=False)

    # --- PostgreSQL -------------------------------------------------------------------------
    @property
    def pg_base(self) -> str:
        return f"postgresql://syncgate@127.0.0.1:{self.pg_port}"

    def db_url(self, name: str) -> str:
        return f"{self.pg_base}/{name}"

    def connect(self, name: str, *, autocommit: bool = True) -> Any:
        import psycopg

        return psycopg.connect(self.db_url(name), autocommit=autocommit)

    def _pg(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(PG_SCRIPT), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise StackError(f"pg_cluster.sh {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def _start_postgres(self) -> None:
        self.pg_dir = self.pg_dir or self.state_dir / "pg"
        self.pg_port = self.pg_port or free_port()
        self._pg("ensure-installed")
        self._pg("start", str(self.pg_dir), str(self.pg_port))
        self._pg_started = True
        from psycopg import sql

        with self.connect("postgres") as conn:
            if self.fresh_metadata:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(METADATA_DB))
                )
            for name in (METADATA_DB, *self.databases):
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    # --- Airflow ----------------------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def component_env(self) -> dict[str, str]:
        """The environment every component (and the ``airflow`` CLI) runs with."""
        env = dict(os.environ)
        env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)  # the test suite's: it stops the scheduler sleeping
        include = str(REPO_ROOT / "include")
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": include + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://syncgate@127.0.0.1:{self.pg_port}/{METADATA_DB}",
                # As scripts/demo.sh sizes Airflow for a 2-core box.
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                # Separate processes must agree on the key signing task <-> API server tokens.
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "SYNCGATE_FLOWS_DIR": str(self.flows_dir),
                "SYNCGATE_LANDING_URL": (self.state_dir / "landing").as_uri(),
                "SYNCGATE_REPORTS_DIR": str(self.state_dir / "reports"),
                "SYNCGATE_HASH_KEY": "bench-only-key",
            }
        )
        for conn_id, target in self.connections.items():
            # A URL, an Airflow JSON connection, or the name of one of the stack's databases.
            url = target if "://" in target or target.lstrip().startswith("{") else self.db_url(target)
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = url
        env.update(self.settings)
        env.update(self.env)
        return env

    def airflow(self, *args: str, timeout: float = 600) -> str:
        """Run an ``airflow`` CLI command with the stack's environment; returns stdout."""
        return self._command([str(VENV_BIN / "airflow"), *args], f"airflow {' '.join(args)}", timeout)

    def syncgate(self, *args: str, timeout: float = 600) -> str:
        """Run ``python -m syncgate ...`` with the stack's environment; returns stdout."""
        return self._command(
            [str(VENV_BIN / "python"), "-m", "syncgate", *args],
            f"python -m syncgate {' '.join(args)}",
            timeout,
        )

    def _command(self, argv: list[str], what: str, timeout: float) -> str:
        done = subprocess.run(
            argv, env=self.component_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise StackError(f"{what} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, *, timeout: float = 300) -> AirflowStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.flows_dir.mkdir(parents=True, exist_ok=True)
        if self.fresh_metadata:  # task logs of a previous stack would mix with this one's
            shutil.rmtree(self.airflow_home, ignore_errors=True)
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.api_port = self.api_port or free_port()
        self._jwt_secret = secrets.token_hex(32)
        try:
            self._start_postgres()
            self.airflow("db", "migrate")
            for name in COMPONENTS:
                self._spawn(name)
            self._wait_for_api(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(
        self,
        name: str,
        argv: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        """Start ``airflow <name>`` (or ``airflow <argv>``) with the stack's environment (or ``env``)."""
        log_path = (log_dir or self.airflow_home) / f"{name}.log"
        handle = log_path.open("ab")
        # Own session: SIGTERM reaches the component alone, and what it spawned stays findable.
        process = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *(argv or [name])],
            env=env or self.component_env(),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.components[name] = Component(name, process, log_path)

    def check_alive(self) -> None:
        for comp in self.components.values():
            if comp.process.poll() is not None:
                tail = comp.log_path.read_text(errors="replace")[-3000:]
                raise StackError(f"airflow {comp.name} exited with {comp.process.returncode}:\n{tail}")

    def _wait_for_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.api("GET", "/api/v2/version")
                return
            except (StackError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the API server did not answer on {self.api_url} within {timeout:.0f} s"
                    ) from exc
                time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM each component (in STOP_ORDER; others, such as workers, after the scheduler),
        wait; SIGKILL what outlives STOP_TIMEOUT."""
        others = [name for name in self.components if name not in STOP_ORDER]
        for name in (STOP_ORDER[0], *others, *STOP_ORDER[1:]):
            comp = self.components.get(name)
            if comp is None or comp.process.poll() is not None:
                continue
            comp.process.send_signal(signal.SIGTERM)
            try:
                comp.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("airflow %s ignored SIGTERM for %.0f s: killing it", name, STOP_TIMEOUT)
                comp.process.kill()
                comp.process.wait()
        for comp in self.components.values():
            _kill_session_leftovers(comp.process.pid)
        self.components.clear()
        if self._pg_started and self.pg_dir is not None:
            try:
                self._pg("stop", str(self.pg_dir))
            except StackError as exc:
                log.warning("%s", exc)
            self._pg_started = False

    def __enter__(self) -> AirflowStack:
        return self.start() if not self.components else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- REST API ---------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 30) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise StackError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
        return json.loads(raw) if raw else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed and registered ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                return
            except StackError as exc:
                if time.monotonic() > deadline:
                    errors = self.api("GET", "/api/v2/importErrors")
                    raise StackError(
                        f"DAG {dag_id} not registered after {timeout:.0f} s; import errors: {errors}"
                    ) from exc
                time.sleep(0.5)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str | None = None, conf: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 0.2) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in FINAL_RUN_STATES:
                return state
            self.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"run {dag_id}/{run_id} still {state} after {timeout:.0f} s")
            time.sleep(poll)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        # Newest first: the API caps a page (100 by default), and the newest are the ones asked about.
        newest = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-start_date")["dag_runs"]
        return list(reversed(newest))

    # --- metadata DB ------------------------------------------------------------------------
    def task_times(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Each task instance's queued / start / end time and state, in start order."""
        with self.connect(METADATA_DB) as conn:
            rows = conn.execute(
                "SELECT task_id, state, queued_dttm, start_date, end_date FROM task_instance"
                " WHERE dag_id = %s AND run_id = %s ORDER BY start_date NULLS LAST, task_id",
                (dag_id, run_id),
            ).fetchall()
        return [dict(zip(("task_id", "state", "queued", "start", "end"), row, strict=True)) for row in rows]

    def run_times(self, dag_id: str, run_id: str) -> dict[str, datetime | None]:
        with self.connect(METADATA_DB) as conn:
            row = conn.execute(
                "SELECT queued_at, start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s",
                (dag_id, run_id),
            ).fetchone()
        if row is None:
            raise StackError(f"no run {dag_id}/{run_id}")
        return dict(zip(("queued", "start", "end"), row, strict=True))

    def component_pids(self) -> dict[str, list[int]]:
        """Every live process of each component's session (the component, its workers, tasks)."""
        return {name: _session_pids(comp.process.pid) for name, comp in self.components.items()}


def _session_pids(sid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _kill_session_leftovers(sid: int) -> None:
    """Task processes run in their own process group but keep the component's session."""
    leftovers = [pid for pid in _session_pids(sid) if pid != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in leftovers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGTERM and leftovers:
            time.sleep(2)
            leftovers = [pid for pid in _session_pids(sid) if pid != os.getpid()]
    if leftovers:
        print(f"warning: killed leftover processes {leftovers}", file=sys.stderr)
