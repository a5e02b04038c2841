"""Airflow on the CeleryExecutor as docker-compose.yml deploys it, on this machine.

Scheduler, dag-processor, triggerer and API server (bench/airflow_stack.py), a Redis broker, the
Celery result backend in the metadata PostgreSQL, and Celery workers that share no local disk
with each other or with the rest: each has its own ``AIRFLOW_HOME`` (task logs), home, temp
folder and reports folder. What the deployment shares is what docker-compose.yml shares: the
code (dags/, plugins/, include/), the flow specs, the databases and the landing area, here an
S3 bucket on a local S3 server (s3_server.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.airflow_stack import METADATA_DB, AirflowStack, StackError, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = Path(__file__).with_name("celery_deploy")  # the cluster policy and the workers' hostname
ENSURE_REDIS = REPO / "scripts" / "ensure_redis.sh"


class RedisServer:
    """Debian's ``redis-server`` on a free loopback port, no persistence, stopped by ``stop``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> RedisServer:
        ensured = subprocess.run(["bash", str(ENSURE_REDIS)], capture_output=True, text=True, check=False)
        if ensured.returncode != 0:
            raise StackError(f"the distributed test needs redis-server: {ensured.stderr.strip()}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        with (self.folder / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self._pong():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StackError(
                    f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        return self

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@dataclass
class CeleryStack(AirflowStack):
    """``AirflowStack`` on the CeleryExecutor plus one Celery worker per name in ``workers``.

    ``broker_url``: the Redis broker; ``workers``: worker name -> the Celery queue it consumes
    (the name is also the hostname its task instances record); ``shared_env``: what every
    process gets besides Airflow's settings (the landing URL, the object store's credentials).
    """

    broker_url: str = ""
    workers: dict[str, str] = field(default_factory=dict)
    shared_env: dict[str, str] = field(default_factory=dict)

    def component_env(self) -> dict[str, str]:
        env = super().component_env()
        env["PYTHONPATH"] = f"{DEPLOY}{os.pathsep}{env['PYTHONPATH']}"
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                # As docker-compose.yml: Celery's results in the metadata database.
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://syncgate@127.0.0.1:{self.pg_port}/{METADATA_DB}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            }
        )
        env.update(self.shared_env)
        return env

    def worker_dir(self, name: str) -> Path:
        return self.state_dir / "workers" / name

    def worker_env(self, name: str) -> dict[str, str]:
        """A worker's own disk: AIRFLOW_HOME, HOME, TMPDIR and reports folder under its folder."""
        home = self.worker_dir(name)
        env = self.component_env()
        env.update(
            {
                "AIRFLOW_HOME": str(home / "airflow"),
                "HOME": str(home / "home"),
                "TMPDIR": str(home / "tmp"),
                "SYNCGATE_REPORTS_DIR": str(home / "reports"),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_host.hostname",
                "SYNCGATE_TEST_WORKER_HOST": name,
            }
        )
        return env

    def start(self, *, timeout: float = 300) -> CeleryStack:
        super().start(timeout=timeout)
        try:
            for name, queue in self.workers.items():
                for sub in ("airflow", "home", "tmp"):
                    (self.worker_dir(name) / sub).mkdir(parents=True, exist_ok=True)
                argv = ["celery", "worker", "--queues", queue, "--concurrency", "1",
                        "--celery-hostname", f"{name}@syncgate-test", "--skip-serve-logs",
                        "--without-mingle", "--without-gossip"]  # fmt: skip
                self._spawn(name, argv, self.worker_env(name), log_dir=self.worker_dir(name))
            for name in self.workers:
                self._wait_for_worker(name, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_worker(self, name: str, timeout: float) -> None:
        log_path = self.components[name].log_path
        deadline = time.monotonic() + timeout
        while " ready." not in log_path.read_text(errors="replace"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"Celery worker {name} not ready after {timeout:.0f} s")
            time.sleep(0.3)

    def task_hosts(self, dag_id: str, run_id: str) -> dict[str, tuple[str, str]]:
        """Each task instance's (hostname, queue), as the metadata database recorded them."""
        with self.connect(METADATA_DB) as conn:
            found = conn.execute(
                "SELECT task_id, hostname, queue FROM task_instance WHERE dag_id = %s AND run_id = %s",
                (dag_id, run_id),
            ).fetchall()
        return {task: (host, queue) for task, host, queue in found}
