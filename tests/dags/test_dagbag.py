"""DagBag integrity and DAG policy over the shipped flows folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shipped_sources import (
    ERP_SCHEMA,
    UnparsedSql,
    crm_records,
    erp_tables,
    erp_views,
    http_columns,
    select_output_columns,
)

from syncgate.connectors.http.spec import HttpSource, HttpTarget
from syncgate.observe.monitor_dag import MONITOR_DAG_ID
from syncgate.spec.loader import LoadedSpec, load_specs
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec

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
        sync = SYNC_SIDES.get(dag_id)
        assert [t.task_id for t in dag.topological_sort()] == expected_tasks(sync), dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: owner"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id}: exponential backoff"
            # One XCom per stage, not one per key of its dict (an API call each: dag_factory.stage_task).
            assert not task.multiple_outputs, f"{dag_id}.{task.task_id}: multiple_outputs"
        # Event-driven one-way flows overlap two runs (dag_factory.EVENT_RUNS_IN_FLIGHT); the rest run alone.
        event_driven = sync is None and bool(dag.timetable.asset_condition)
        assert dag.max_active_runs == (2 if event_driven else 1), dag_id
        for promote_id in [f"promote_{side}" for side in sync] if sync else ["promote"]:
            promote = dag.get_task(promote_id)
            assert promote.outlets, f"{dag_id}: {promote_id} must declare its target as an Asset outlet"
            assert all(str(o.uri).startswith(("syncgate://", "syncgate-http://")) for o in promote.outlets)


# Shipped two-way / multi-way flows: flow id -> its side names.
SYNC_SIDES = {item.spec.id: item.spec.side_names for item in SHIPPED if isinstance(item.spec, SyncSpec)}


def expected_tasks(sides: list[str] | None) -> list[str]:
    """The fixed task shape: one-way, or per side extract -> transform, one reconcile, then per
    side load -> verify -> promote (in Airflow's topological order)."""
    if sides is None:
        return ["extract", "transform", "load", "verify", "promote"]
    return [
        *(f"extract_{s}" for s in sides), *(f"transform_{s}" for s in sides), "reconcile",
        *(f"{stage}_{s}" for s in sides for stage in ("load", "verify", "promote")),
    ]  # fmt: skip


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


@pytest.fixture(scope="module")
def bag_without_connections() -> Iterator[tuple[Any, list[str]]]:
    """The shipped DAG folder parsed with every connection lookup failing (and recorded)."""
    from airflow.sdk.definitions.connection import Connection
    from airflow.sdk.execution_time import context

    looked_up: list[str] = []

    def refuse(conn_id: str, *_: Any) -> Any:
        looked_up.append(conn_id)
        raise AssertionError(f"connection {conn_id!r} looked up while parsing")

    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
            patch.delenv(name)
        patch.setattr(Connection, "get", staticmethod(refuse))
        patch.setattr(context, "_get_connection", refuse)
        yield dagbag(patch), looked_up


def source_columns(spec: FlowSpec) -> list[str]:
    """The columns the flow's demo source offers (tests/dags/shipped_sources.py)."""
    source = spec.source
    if isinstance(source, HttpSource) and source.params.get("email_domain"):
        # A slice the demo creates at start-up (scripts/demo.sh): the generated sample has none.
        return http_columns(crm_records(source.endpoint), {})[0]
    if isinstance(source, HttpSource):
        declared = {name: path for name, (path, _) in source.field_paths().items()}
        columns, unreachable = http_columns(crm_records(source.endpoint), declared)
        assert not unreachable, f"`source.fields` {unreachable}: no demo CRM record has that path"
        return columns
    tables = erp_tables() | erp_views()
    if source.query is not None:
        return select_output_columns(source.query, tables)
    assert source.table is not None
    table = source.table if "." in source.table else f"public.{source.table}"
    assert table in tables, f"{table} is not a table of {ERP_SCHEMA.name}"
    return tables[table]


def test_the_demo_schema_parser_reads_every_erp_table() -> None:
    """The contract below is only as good as this parser: it must see every table and column."""
    tables = erp_tables()
    assert tables == {
        "public.customers": [
            "id", "name", "email", "country", "segment", "credit_limit", "created_at", "updated_at", "deleted_at",
        ],
        "public.products": ["id", "sku", "name", "category", "unit_price", "attributes", "active", "updated_at"],
        "public.orders": [
            "id", "customer_id", "status", "amount", "currency", "internal_note", "ordered_at", "updated_at",
        ],
        "public.order_lines": [
            "order_id", "line_no", "product_id", "quantity", "unit_price", "discount", "updated_at",
        ],
    }  # fmt: skip
    assert select_output_columns(
        "SELECT c.id, lower(email) AS mail, 'x, (y)' AS \"Odd\" FROM customers c", tables
    ) == ["id", "mail", "Odd"]
    with pytest.raises(UnparsedSql, match="has no `AS name`"):
        select_output_columns("SELECT id + 1 FROM public.customers", tables)
    with pytest.raises(UnparsedSql, match="does not define"):
        select_output_columns("SELECT id FROM public.invoices", tables)


@pytest.mark.parametrize("item", SHIPPED, ids=[item.path.name for item in SHIPPED])
def test_contract_of_a_shipped_spec(item: LoadedSpec, bag_without_connections: tuple[Any, list[str]]) -> None:
    """A shipped spec validates, has a quality suite, names only columns its demo source has
    (keys, transform, pii, checks, freshness, pushed fields) and its DAG parses without connections."""
    from syncgate.pipeline.transform import output_columns

    assert item.error is None, str(item.error)
    spec = item.spec
    assert spec is not None
    name = item.path.name
    if isinstance(spec, SyncSpec):
        check_sync_contract(name, spec, bag_without_connections)
        return

    assert spec.quality.expectations, f"{name}: no quality suite (inline `expectations` or `suite`)"
    if spec.quality.suite:
        assert Path(spec.quality.suite).is_file(), f"{name}: suite {spec.quality.suite} is missing"

    offered = source_columns(spec)
    if spec.source.columns is not None:
        unknown = [c for c in spec.source.columns if c not in offered]
        assert not unknown, f"{name}: `source.columns` {unknown} are not columns of the source"
    columns = spec.source.columns if spec.source.columns is not None else offered
    keys = {
        "primary key": spec.source.primary_key,
        "cursor": [spec.source.cursor] if spec.source.cursor else [],
        "soft delete column": [spec.source.soft_delete_column] if spec.source.soft_delete_column else [],
    }
    for what, names in keys.items():
        missing = [c for c in names if c not in columns]
        assert not missing, f"{name}: {what} {missing} not among the source's columns {columns}"
    spec.check_column_names(columns)  # transform (rename, cast, map_values, hash, drop) and pii

    delivered = {n for n, _ in output_columns(spec.transform, [(c, "text") for c in columns])}
    for expectation in spec.quality.expectations:
        named = [expectation.kwargs.get(k) for k in ("column", "column_A", "column_B")]
        named += list(expectation.kwargs.get("column_list") or [])
        missing = [c for c in named if c is not None and c not in delivered]
        assert not missing, f"{name}: {expectation.type} checks {missing}, which the flow does not deliver"
    if spec.freshness:
        assert spec.freshness.column in delivered, f"{name}: freshness column {spec.freshness.column}"
    if isinstance(spec.target, HttpTarget):
        pushed = [spec.target_id_field, *(spec.target.fields or [])]
        missing = [c for c in pushed if c not in delivered]
        assert not missing, f"{name}: the HTTP target sends {missing}, which the flow does not deliver"

    bag, looked_up = bag_without_connections
    assert looked_up == [], f"parsing the DAG folder looked up connections {looked_up}"
    assert bag.import_errors == {}
    dag = bag.dags.get(spec.id)
    assert dag is not None, f"{name}: no DAG {spec.id}"
    tasks = [t.task_id for t in dag.topological_sort()]
    assert tasks == ["extract", "transform", "load", "verify", "promote"], name


def check_sync_contract(name: str, spec: SyncSpec, bag_without_connections: tuple[Any, list[str]]) -> None:
    """A shipped two-way / multi-way spec: every side offers its keys and the common fields'
    columns, the checks name common fields, and its DAG parses without connections."""
    assert spec.quality.expectations, f"{name}: no quality suite"
    common = set(spec.fields or {})
    for side in spec.all_sides:
        offered = source_columns(side.view)
        source = side.source
        own = [*source.primary_key, *([source.cursor] if source.cursor else [])]
        own += [source.soft_delete_column] if source.soft_delete_column else []
        missing = [c for c in own if c not in offered]
        assert not missing, f"{name}: side {side.name} keys {missing} are not among its columns {offered}"
        for field in spec.fields or {}:
            column = spec.column(side.name, field)
            assert column is None or column in offered, f"{name}: side {side.name} has no column {column}"
    for expectation in spec.quality.expectations:
        column = expectation.kwargs.get("column")
        assert column is None or column in common, (
            f"{name}: {expectation.type} checks {column}, not a common field"
        )
    bag, looked_up = bag_without_connections
    assert looked_up == [], f"parsing the DAG folder looked up connections {looked_up}"
    assert bag.import_errors == {}
    dag = bag.dags.get(spec.id)
    assert dag is not None, f"{name}: no DAG {spec.id}"
    assert [t.task_id for t in dag.topological_sort()] == expected_tasks(spec.side_names), name
