"""What the tests under the real scheduler share: a stack for a flows folder, and a wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.airflow_stack import AirflowStack

REPO = Path(__file__).resolve().parents[2]
WAIT = 300.0


def until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """``check()``'s first truthy result, polled every 0.3 s; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def flows_stack(tmp_path: Path, flows: Path) -> AirflowStack:
    """Scheduler, triggerer, dag-processor and API server for ``flows``; databases src / dst."""
    return AirflowStack(
        state_dir=tmp_path / "stack",
        flows_dir=flows,
        databases=["src", "dst"],
        connections={"src_db": "src", "dst_db": "dst"},
        pg_dir=REPO / ".syncgate" / "pg-stack-test",
        fresh_metadata=True,
    )
