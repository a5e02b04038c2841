"""Runs of one flow that verify at the same moment (a backfill's runs, `dags test` beside a
scheduled run) share the flow's GX store: each must still get its verdict.

Found by the README's backfill against the demo: two of three concurrent backfill runs failed
verify with GX's CheckpointRelatedResourcesFreshnessError (the suite or validation definition
re-saved by another run between this run's save and its checkpoint run).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from helpers import execute

from syncgate.db.identifiers import TableRef
from syncgate.quality.checkpoint import run_checkpoint

pytestmark = pytest.mark.integration

PROCESSES = 4
RUNS_EACH = 3
WAIT_SECONDS = 600
EXPECTATIONS = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["a", "b"]}},
]


def _verify_runs(url: str, docs_root: str, worker: int) -> list[str]:
    problems = []
    for i in range(RUNS_EACH):
        try:
            result = run_checkpoint(
                flow_id="orders",
                run_id=f"run_{worker}_{i}",
                connection_url=url,
                table=TableRef("public", f"staged_{worker}"),
                expectations=EXPECTATIONS,
                result_format="SUMMARY",
                docs_root=Path(docs_root),
            )
        except Exception as exc:  # noqa: BLE001 - the test reports every failure, whatever its type
            problems.append(f"worker {worker} run {i}: {type(exc).__name__}: {exc}")
            continue
        if not result.success:
            problems.append(f"worker {worker} run {i}: verdict failed: {result.failed}")
    return problems


def test_concurrent_verifies_of_one_flow_each_get_their_verdict(
    databases: dict[str, Any], tmp_path: Path
) -> None:
    dst = databases["dst"]
    for worker in range(PROCESSES):
        execute(
            dst,
            f"CREATE TABLE public.staged_{worker} (id int, status text)",
            f"INSERT INTO public.staged_{worker} SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END "
            "FROM generate_series(1, 200) g",
        )
    docs_root = tmp_path / "gx"
    # Spawned, not forked: this process has threads by now (GX's tqdm monitor, dag.test's
    # in-process API loop, servers of earlier tests), and a child forked while one of them
    # holds a lock waits for it forever. The wait is bounded too, so a hang fails the test.
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = pool.starmap_async(_verify_runs, [(dst, str(docs_root), w) for w in range(PROCESSES)])
        outcomes = pending.get(timeout=WAIT_SECONDS)
    assert [p for problems in outcomes for p in problems] == []
