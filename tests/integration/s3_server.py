"""A local S3-compatible object store for tests: moto's server mode on a loopback port.

moto (and the boto3 it administers buckets with) lives in its own venv under
``.syncgate/s3-server/`` (``s3_server_requirements.txt`` says why; PyPI is needed once): the
test's processes reach the server over HTTP only, as they would reach S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.airflow_stack import free_port

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("s3_server_requirements.txt")
VENV = REPO / ".syncgate" / "s3-server" / "venv"
REGION = "us-east-1"
# moto accepts any credentials; these make the clients sign requests as they would for S3.
ACCESS_KEY = "syncgate-test-key"
SECRET_KEY = "syncgate-test-secret"


def server_venv() -> Path:
    """The venv holding moto, made (or brought up to the pinned requirements) on first use."""
    stamp = VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return VENV
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    done = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"installing the S3 server's requirements failed:\n{done.stderr[-3000:]}")
    stamp.write_text(wanted)
    return VENV


class S3Server:
    """``moto_server`` on 127.0.0.1; ``admin`` runs boto3 against it (buckets, object versions)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """How every process of the deployment reaches the store: the AWS SDKs' variables."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            # Never ask a cloud's instance metadata service for credentials.
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self, timeout: float = 60) -> S3Server:
        venv = server_venv()
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(venv / "bin" / "python"), "-m", "moto.server",
                 "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return self
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {self.endpoint}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def admin(self, code: str) -> Any:
        """Run ``code`` with ``s3`` (a boto3 client of this server) in the server's venv; returns
        what it assigns to ``result``, through JSON."""
        script = "import boto3, json\ns3 = boto3.client('s3')\nresult = None\n"
        script += textwrap.dedent(code) + "\nprint(json.dumps(result, default=str))\n"
        done = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", script], env={**os.environ, **self.client_env()},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"S3 admin script failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def create_versioned_bucket(self, bucket: str) -> None:
        """A bucket that keeps every object version: what was written and then removed stays listed."""
        self.admin(f"""
            s3.create_bucket(Bucket={bucket!r})
            s3.put_bucket_versioning(Bucket={bucket!r}, VersioningConfiguration={{"Status": "Enabled"}})
        """)

    def current_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys of the objects in the bucket now."""
        return self.admin(f"""
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket={bucket!r}, Prefix={prefix!r})
            result = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        """)

    def written_keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every key ever written under ``prefix`` (removed ones too) -> bytes of its largest version."""
        return self.admin(f"""
            pages = s3.get_paginator("list_object_versions").paginate(Bucket={bucket!r}, Prefix={prefix!r})
            result = {{}}
            for page in pages:
                for v in page.get("Versions", []):
                    result[v["Key"]] = max(result.get(v["Key"], 0), v["Size"])
        """)
