"""A ``query:`` source may not read syncgate's own schemas: checked by the database, at run time.

Validation refuses a query that names them (``spec/reserved_schemas.py``); what only the server
can resolve is checked here, before a row is read: a connection whose search_path reaches one of
syncgate's schemas (an unqualified ``watermarks`` would be the state table), and every relation
the planner reads (a view in ``public`` over ``syncgate.watermarks`` shows the base table).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from syncgate.errors import SpecError
from syncgate.spec.reserved_schemas import is_reserved_schema

if TYPE_CHECKING:
    import psycopg


def refuse_syncgate_relations(conn: psycopg.Connection[Any], flow_id: str, query: str) -> None:
    """Raise ``SpecError`` when ``query`` would read one of syncgate's schemas on ``conn``."""
    from psycopg import sql

    path = [str(s) for (s,) in conn.execute("SELECT unnest(current_schemas(false))").fetchall()]
    on_path = [s for s in path if is_reserved_schema(s)]
    if on_path:
        raise SpecError(
            flow_id,
            [
                f"source.query: the source connection's search_path includes {', '.join(on_path)}, "
                "syncgate's own schema(s): an unqualified name could read syncgate's state. Remove it "
                "from the search_path of the connection (or its role / database)"
            ],
        )
    plan = conn.execute(
        sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) SELECT * FROM ({}) AS syncgate_probe").format(sql.SQL(query))
    ).fetchone()
    read = sorted({s for s in _plan_schemas(plan[0] if plan else []) if is_reserved_schema(s)})
    if read:
        raise SpecError(
            flow_id,
            [f"source.query: reads schema(s) {', '.join(read)}, syncgate's own (through a view or "
             "function the spec does not name): a flow may not read them"],
        )  # fmt: skip


def _plan_schemas(node: Any) -> Iterator[str]:
    """Every ``Schema`` of a JSON plan (scans name the schema of the relation they read)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Schema" and isinstance(value, str):
                yield value
            else:
                yield from _plan_schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from _plan_schemas(item)
