"""Helpers for integration tests: specs wired to the throwaway databases, in-process runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg

from syncgate.batch.run import RunInfo
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.spec.model import FlowSpec

ORDERS_DDL = """
CREATE TABLE public.orders (
    id bigint PRIMARY KEY,
    status char(1) NOT NULL,
    amount numeric(12,2),
    note text,
    "order" text,
    updated_at timestamptz NOT NULL
)
"""


def make_spec(**overrides: Any) -> FlowSpec:
    """The test flow: src_db.public.orders -> dst_db.analytics.orders, overridable per key."""
    spec: dict[str, Any] = {
        "id": "orders_flow",
        "retries": 0,
        "source": {
            "type": "postgres",
            "conn_id": "src_db",
            "table": "public.orders",
            "primary_key": ["id"],
            "cursor": "updated_at",
            "deletes": "hard",
        },
        "target": {"type": "postgres", "conn_id": "dst_db", "table": "analytics.orders", "write": "merge"},
        "transform": {"map_values": {"status": {"P": "pending", "S": "shipped", "X": "cancelled"}}},
        "quality": {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "status", "value_set": ["pending", "shipped", "cancelled"]},
                }
            ]
        },
    }
    return FlowSpec.model_validate(apply_overrides(spec, overrides))


def apply_overrides(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set ``a__b=value`` keys in a raw spec; ``None`` removes the key (its default applies)."""
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        node = spec
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return spec


def new_run(spec: FlowSpec, **kwargs: Any) -> RunInfo:
    return RunInfo(spec.id, kwargs.pop("run_id", f"manual__{uuid.uuid4().hex[:8]}"), **kwargs)


def sync(spec: FlowSpec, run: RunInfo | None = None) -> dict[str, Any]:
    """Run the five stages in order, in-process, exactly as the DAG chains them."""
    run = run or new_run(spec)
    manifest = verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))
    return {**manifest.to_xcom(), "counts": promote(spec, run, manifest), "run": run}


def rows(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def seed_orders(url: str, count: int, stamp: str = "2026-01-01 00:00:00+00") -> None:
    execute(
        url,
        ORDERS_DDL,
        f"""INSERT INTO public.orders
            SELECT g, (ARRAY['P','S','X'])[1 + g % 3], g * 1.5, CASE WHEN g % 4 = 0 THEN NULL ELSE 'n' || g END,
                   CASE WHEN g % 5 = 0 THEN '' ELSE 'o' || g END, '{stamp}'::timestamptz + (g / 10) * interval '1 minute'
            FROM generate_series(1, {count}) g""",
    )


MAPPED = "CASE status WHEN 'P' THEN 'pending' WHEN 'S' THEN 'shipped' WHEN 'X' THEN 'cancelled' END"


def checksum(url: str, query: str) -> str:
    """md5 over the rows of ``query`` (ordered by id), as text."""
    return str(
        rows(url, f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r.id), '')) FROM ({query}) r")[0][0]
    )


def source_sum(src: str) -> str:
    """The orders source as the flow maps it, by checksum."""
    return checksum(
        src, f'SELECT id, {MAPPED} AS status, amount, note, "order", updated_at FROM public.orders'
    )


def target_sum(dst: str) -> str:
    return checksum(dst, 'SELECT id, status, amount, note, "order", updated_at FROM analytics.orders')


def source_orders(url: str) -> list[tuple[Any, ...]]:
    return rows(url, f'SELECT id, {MAPPED}, amount, note, "order", updated_at FROM public.orders ORDER BY id')


def target_orders(url: str) -> list[tuple[Any, ...]]:
    return rows(url, 'SELECT id, status, amount, note, "order", updated_at FROM analytics.orders ORDER BY id')


def watermark(url: str, flow_id: str = "orders_flow") -> tuple[Any, ...] | None:
    found = rows(url, "SELECT value, boundary_keys FROM syncgate.watermarks WHERE flow_id = %s", (flow_id,))
    return found[0] if found else None


def audit(url: str, run_id: str, flow_id: str = "orders_flow") -> dict[str, Any]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM syncgate.sync_runs WHERE flow_id = %s AND run_id = %s", (flow_id, run_id)
        ).fetchone()
    assert row is not None, f"no audit row for {run_id}"
    return row


REPO = Path(__file__).resolve().parents[2]


def flows_dag_bag(monkeypatch: Any, flows: Path) -> Any:
    """The project's real ``dags/`` folder, bagged over the spec folder ``flows`` (no import error)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def task_states(dag_run: Any) -> dict[str, str]:
    """Task id -> state of a finished ``dag.test()`` run."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
