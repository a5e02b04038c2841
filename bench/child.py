"""One bench stage in a child process, as Airflow runs each task: its result, wall time, peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.paths import REPO_ROOT


@dataclass
class ChildRun:
    result: dict[str, Any]  # what the child wrote ({} when it wrote nothing)
    wall_seconds: float
    peak_rss_mb: float
    exit_code: int


def run_child(module: str, request: dict[str, Any], env: dict[str, str], log_path: Path) -> ChildRun:
    """Run ``python -m <module> request.json result.json`` with its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="syncgate-bench-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps(request))
        with log_path.open("w") as log:
            started = time.monotonic()
            child = subprocess.Popen(
                [sys.executable, "-m", module, str(request_path), str(result_path)],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
        result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    # The child's own high-water mark when it reported one; the kernel's for the process otherwise.
    peak = max(result.get("vmhwm_kb", 0), usage.ru_maxrss) / 1024
    return ChildRun(result, wall, peak, os.waitstatus_to_exitcode(status))
