"""The small PostgreSQL -> PostgreSQL flows the latency and fixed-cost benchmarks run.

A source table ``public.<name>`` (id, sku, qty, updated_at) in ``lat_src``, a merge target
``analytics.<name>`` in ``lat_dst``, one GX expectation: five stage tasks and the gate, like a
real flow. Every flow of one benchmark has its own table pair, so flows never see each other's
changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from psycopg import sql

FLOW_ID = "latency_items"
SOURCE_DB = "lat_src"
TARGET_DB = "lat_dst"
SOURCE_CONN = "lat_src"
TARGET_CONN = "lat_dst"
SEED_ROWS = 1000


def flow_spec(
    flow_id: str = FLOW_ID,
    *,
    table: str = "items",
    schedule: str | None = None,
    cursor: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The flow as the raw dict a spec YAML holds; ``extra`` adds or overrides top-level keys
    (``triggers``, ``debounce``) and merges into ``source`` when it has a ``source`` dict."""
    source: dict[str, Any] = {
        "type": "postgres",
        "conn_id": SOURCE_CONN,
        "table": f"public.{table}",
        "primary_key": ["id"],
    }
    if cursor:
        source["cursor"] = "updated_at"
    spec: dict[str, Any] = {
        "id": flow_id,
        "description": "syncgate latency benchmark flow",
        "retries": 0,
        "source": source,
        "target": {
            "type": "postgres",
            "conn_id": TARGET_CONN,
            "table": f"analytics.{table}",
            "write": "merge",
        },
        "quality": {
            "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "sku"}}]
        },
    }
    if schedule:
        spec["schedule"] = schedule
    for key, value in (extra or {}).items():
        if key == "source" and isinstance(value, dict):
            source.update(value)
        else:
            spec[key] = value
    return spec


def write_spec(flows_dir: Path, spec: dict[str, Any]) -> Path:
    path = flows_dir / f"{spec['id']}.yml"
    tmp = path.with_suffix(".tmp")  # the dag-processor must never parse half a file
    tmp.write_text(yaml.safe_dump(spec, sort_keys=False))
    tmp.replace(path)
    return path


def seed_source(conn: Any, rows: int = SEED_ROWS, *, table: str = "items") -> None:
    """(Re)create ``public.<table>`` with ``rows`` rows (autocommit connection)."""
    ident = sql.Identifier("public", table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint PRIMARY KEY, sku text NOT NULL, qty bigint NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ).format(ident)
    )
    conn.execute(sql.SQL("CREATE INDEX ON {} (updated_at)").format(ident))
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, sku, qty) SELECT g, 'sku-' || g, g %% 100 FROM generate_series(1, %s) g"
        ).format(ident),
        (rows,),
    )


def drop_target(conn: Any, *, table: str = "items", flow_id: str | None = None) -> None:
    """Drop the target table and, for ``flow_id``, syncgate's state of an earlier bench run: a
    watermark without its target is refused (rightly), so a rerun starts from a full load."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("analytics", table)))
    if flow_id is not None and conn.execute("SELECT to_regclass('syncgate.watermarks')").fetchone()[0]:
        conn.execute("DELETE FROM syncgate.watermarks WHERE flow_id = %s", (flow_id,))


def touch_row(conn: Any, row_id: int, qty: int, *, table: str = "items") -> None:
    """One single-row change, committed (autocommit connection): update, or insert a new id."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} AS t (id, sku, qty) VALUES (%s, 'sku-' || %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET qty = excluded.qty, updated_at = clock_timestamp()"
        ).format(sql.Identifier("public", table)),
        (row_id, row_id, qty),
    )


def target_qty(conn: Any, row_ids: list[int], *, table: str = "items") -> dict[int, int]:
    """qty of the given ids in the target (missing ids: absent); {} before the first run."""
    try:
        rows = conn.execute(
            sql.SQL("SELECT id, qty FROM {} WHERE id = ANY(%s)").format(sql.Identifier("analytics", table)),
            (row_ids,),
        ).fetchall()
    except Exception as exc:  # the target table appears with the first run
        if type(exc).__name__ == "UndefinedTable":
            return {}
        raise
    return {int(r[0]): int(r[1]) for r in rows}


def fingerprint(conn: Any, schema: str, table: str) -> tuple[int, str]:
    """(rows, md5 over id:qty in id order) of a table: equal on both sides iff in sync."""
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(id || ':' || qty, ',' ORDER BY id), '')) FROM {}"
        ).format(sql.Identifier(schema, table))
    ).fetchone()
    return int(row[0]), str(row[1])
