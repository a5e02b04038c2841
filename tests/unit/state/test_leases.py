"""The lease heartbeat's thread (the database side: tests/integration/test_dead_runs.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from syncgate.state import leases

pytestmark = pytest.mark.unit


def test_the_first_renewal_runs_in_the_stage_s_thread_before_the_heartbeat_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A renewal imports psycopg and the Postgres provider's hook; the heartbeat thread doing
    that while the stage imports the same modules ended one of them in Python's import-deadlock
    error (seen in the fault suite's killed-stage child). So the first renewal, which does the
    imports, runs in the stage's thread before the heartbeat thread exists."""
    calls: list[str] = []

    def renew_once(*args: Any, **kwargs: Any) -> None:
        calls.append(threading.current_thread().name)

    monkeypatch.setattr(leases, "_renew_once", renew_once)
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", "0.2")  # a beat every 0.05 s
    with leases.heartbeat("state", "flow", "run"):
        assert calls == [threading.main_thread().name]
        time.sleep(0.3)
    assert calls[0] == calls[-1] == threading.main_thread().name  # first, and the hand-off
    assert "syncgate-lease-flow" in calls[1:-1]  # the beats in between come from the thread
