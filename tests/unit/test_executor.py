"""The prewarmed LocalExecutor: what it imports before its workers fork, and when it does not."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from syncgate import executor
from syncgate.pipeline.startup import STAGE_LIBRARIES

pytestmark = pytest.mark.unit


def test_every_stage_library_and_the_dag_parse_modules_are_prewarmed_once_each() -> None:
    names = executor.prewarm_modules()
    assert len(names) == len(set(names))
    assert {name for stage in STAGE_LIBRARIES.values() for name in stage} <= set(names)
    assert "great_expectations" in names and "syncgate.dag_factory" in names


def test_a_module_that_cannot_be_imported_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(executor, "PARSE_MODULES", ("json", "syncgate_no_such_module"))
    monkeypatch.setattr(executor, "STAGE_LIBRARIES", {"extract": ("csv",)})
    with caplog.at_level(logging.WARNING, logger=executor.__name__):
        seconds = executor.prewarm()
    assert seconds >= 0
    assert "could not pre-import syncgate_no_such_module" in caplog.text


@pytest.mark.parametrize(("forks", "prewarmed"), [(True, 1), (False, 0)])
def test_the_executor_prewarms_only_when_its_workers_fork(
    monkeypatch: pytest.MonkeyPatch, forks: bool, prewarmed: int
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(executor, "prewarm", lambda: calls.append("prewarm") or 0.0)
    monkeypatch.setattr(executor.LocalExecutor, "start", lambda self: calls.append("start"))
    instance: Any = executor.PrewarmedLocalExecutor.__new__(executor.PrewarmedLocalExecutor)
    monkeypatch.setattr(type(instance), "is_mp_using_fork", forks, raising=False)
    instance.start()
    assert calls == ["prewarm"] * prewarmed + ["start"]


def test_every_engine_module_a_task_parses_or_runs_with_is_prewarmed() -> None:
    """Parsing the DAG file builds each flow's source and target (``registry.source_for`` /
    ``target_for``) and its triggers: their modules must come from the scheduler, not be
    imported again by every task."""
    names = set(executor.prewarm_modules())
    for module in (
        "syncgate.connectors",
        "syncgate.connectors.postgres.source",
        "syncgate.connectors.postgres.wal_source",
        "syncgate.connectors.postgres.target",
        "syncgate.connectors.http.source",
        "syncgate.connectors.http.target",
        "syncgate.events.triggers",
        "syncgate.pipeline.verify",
        "syncgate.report.links",
    ):
        assert module in names, module
    assert not names & executor.NOT_PREWARMED
    assert not any(name.startswith(("syncgate.ui", "syncgate.cli")) for name in names)


def test_prewarming_imports_everything_and_starts_no_thread() -> None:
    """Forking a process that holds threads can deadlock its children: nothing imported may
    start one. A fresh interpreter, so that no other test's imports hide a failure."""
    import subprocess
    import sys

    code = (
        "import threading, logging\n"
        "from syncgate import executor\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "executor.prewarm()\n"
        "print(threading.active_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "1", done.stdout
    assert "could not pre-import" not in done.stderr, done.stderr


def test_an_engine_package_that_cannot_be_imported_is_logged_and_skipped_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Review 2026-12-07 (L1): ``prewarm`` promises that a module failing to import is logged and
    skipped, but ``engine_modules()`` imports (and walks) the engine packages outside that
    guard: one failing package stops the scheduler's executor from starting."""
    monkeypatch.setattr(executor, "PARSE_MODULES", ("json",))
    monkeypatch.setattr(executor, "STAGE_LIBRARIES", {"extract": ("csv",)})
    monkeypatch.setattr(executor, "ENGINE_PACKAGES", ("syncgate.db", "syncgate_no_such_package"))
    with caplog.at_level(logging.WARNING, logger=executor.__name__):
        seconds = executor.prewarm()
    assert seconds >= 0
    assert "syncgate_no_such_package" in caplog.text
