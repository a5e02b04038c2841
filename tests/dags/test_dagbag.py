"""DagBag integrity and DAG policy over the shipped flows folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from syncgate.observe.monitor_dag import MONITOR_DAG_ID
from syncgate.spec.loader import load_specs

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SHIPPED = load_specs(REPO / "dags" / "flows")


def dagbag(monkeypatch: pytest.MonkeyPatch, flows: Path | None = None):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    if flows is not None:
        monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    else:
        monkeypatch.delenv("SYNCGATE_FLOWS_DIR", raising=False)
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors_and_one_dag_per_shipped_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    bag = dagbag(monkeypatch)
    assert bag.import_errors == {}
    assert SHIPPED, "no flow specs shipped in dags/flows"
    flows = [item.spec.id for item in SHIPPED if item.spec]
    assert sorted(bag.dag_ids) == sorted([*flows, MONITOR_DAG_ID])


def test_every_dag_follows_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    bag = dagbag(monkeypatch)
    for dag_id, dag in bag.dags.items():
        if dag_id == MONITOR_DAG_ID:  # not a flow: tests/dags/test_monitor_dag.py
            continue
        assert "syncgate" in dag.tags, dag_id
        assert dag.doc_md and "```yaml" in dag.doc_md, f"{dag_id}: doc_md must show the spec"
        assert [t.task_id for t in dag.topological_sort()] == [
            "extract", "transform", "load", "verify", "promote",
        ], dag_id  # fmt: skip
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: owner"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id}: exponential backoff"
        assert dag.max_active_runs == 1, dag_id
        promote = dag.get_task("promote")
        assert promote.outlets, f"{dag_id}: promote must declare the target as an Asset outlet"
        assert all(str(o.uri).startswith(("syncgate://", "syncgate-http://")) for o in promote.outlets)


def fresh_parse(dag_file: Path) -> dict[str, object]:
    """Parse one DAG file in a fresh interpreter (nothing pre-imported but Airflow itself, as in a
    DAG processor): its seconds, and which heavy libraries the parse imported."""
    code = textwrap.dedent(
        f"""
        import json, sys, time
        import airflow.sdk  # Airflow itself is loaded by the processor before any DAG file
        start = time.perf_counter()
        import runpy
        runpy.run_path({str(dag_file)!r})
        elapsed = time.perf_counter() - start
        heavy = sorted(m for m in ("great_expectations", "pyarrow", "psycopg", "pandas") if m in sys.modules)
        print(json.dumps({{"seconds": elapsed, "heavy": heavy}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO / "include")},
    )  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_dag_folder_parses_well_under_a_second() -> None:
    result = fresh_parse(DAGS / "syncgate_flows.py")
    assert result["heavy"] == [], f"heavy modules imported at parse time: {result['heavy']}"
    assert float(result["seconds"]) < 1.0, f"DAG folder parse took {result['seconds']:.2f}s"


def test_an_invalid_spec_breaks_only_its_own_dag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = (REPO / "dags" / "flows" / "erp_orders.yml").read_text()
    (tmp_path / "good.yml").write_text(good)
    (tmp_path / "broken.yml").write_text(
        good.replace("id: erp_orders", "id: broken_flow").replace(
            "table: public.orders", "tabel: public.orders"
        )
    )
    start = time.perf_counter()
    bag = dagbag(monkeypatch, tmp_path)
    assert time.perf_counter() - start < 5
    assert "erp_orders" in bag.dag_ids and "broken_flow" not in bag.dag_ids
    errors = "\n".join(bag.import_errors.values())
    assert "broken.yml" in errors and "source.tabel: unknown key" in errors


def test_contract_of_every_shipped_spec() -> None:
    """Every shipped spec validates and its quality checks name columns the flow delivers."""
    from syncgate.pipeline.transform import output_columns

    for item in SHIPPED:
        assert item.error is None, str(item.error)
        spec = item.spec
        assert spec is not None
        if spec.source.columns is None:
            continue
        delivered = {n for n, _ in output_columns(spec.transform, [(c, "text") for c in spec.source.columns])}
        for expectation in spec.quality.expectations:
            column = expectation.kwargs.get("column")
            assert column is None or column in delivered, f"{item.path.name}: {column} is not delivered"
        if spec.freshness:
            assert spec.freshness.column in delivered, f"{item.path.name}: freshness column"
