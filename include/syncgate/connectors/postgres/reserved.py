"""A ``query:`` source may not read syncgate's own schemas: checked by the database, at run time.

Validation refuses a query that names them (``spec/reserved_schemas.py``); what only the server
can resolve is checked here, before a row is read, from the query's plan: every relation the
planner reads, with the schema it resolved it to. That covers an unqualified name reached through
the search_path (the default ``"$user", public`` reaches the state schema when the role is
called ``syncgate``) and a view in ``public`` over ``syncgate.watermarks`` (the plan shows the
base table), without refusing a search_path that merely lists a syncgate schema.
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

    plan = conn.execute(
        sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) SELECT * FROM ({}) AS syncgate_probe").format(sql.SQL(query))
    ).fetchone()
    read = sorted({s for s in _plan_schemas(plan[0] if plan else []) if is_reserved_schema(s)})
    if read:
        raise SpecError(
            flow_id,
            [f"source.query: reads schema(s) {', '.join(read)}, syncgate's own (through the search_path "
             "or a view the spec does not name): a flow may not read them"],
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
