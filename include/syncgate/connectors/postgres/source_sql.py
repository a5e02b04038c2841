"""SQL that reads a flow's source: the relation, the run's window, and the next watermark.

Identifiers are always quoted; values are bound parameters. ``source.query`` is the one
deliberate exception: it is inlined as written by the spec author (a reviewed file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from syncgate.batch.window import Window
from syncgate.connectors.postgres.spec import PostgresSource
from syncgate.db.identifiers import TableRef, ident_list
from syncgate.spec.model import FlowSpec
from syncgate.state.watermarks import KEY_SEPARATOR

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

# Always bind at least one parameter: psycopg then reads an inlined `source.query`'s escaped
# ``%%`` as ``%`` in every statement, COPY included.
PARAMS: dict[str, Any] = {"syncgate": None}


def source_relation(spec: FlowSpec) -> sql.Composable:
    from psycopg import sql

    source = cast(PostgresSource, spec.source)
    if source.table:
        return TableRef.parse(source.table).sql
    # The query comes from the spec author (a trusted, reviewed file), never from run input.
    return sql.SQL("({}) AS syncgate_source").format(sql.SQL(escape_percent(str(source.query))))


def escape_percent(query: str) -> str:
    """Make a literal query safe to execute with bound parameters (``LIKE 'a%'``, ``x % 2``)."""
    return query.replace("%", "%%")


def key_expr(primary_key: list[str]) -> sql.Composable:
    from psycopg import sql

    parts = [sql.SQL("{}::text").format(sql.Identifier(c)) for c in primary_key]
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("concat_ws({}, {})").format(sql.Literal(KEY_SEPARATOR), sql.SQL(", ").join(parts))


def window_sql(spec: FlowSpec, window: Window) -> tuple[sql.Composable | None, dict[str, Any]]:
    from psycopg import sql

    if window.lower is None and window.upper is None:
        return None, dict(PARAMS)
    cursor = sql.Identifier(str(spec.source.cursor))
    params: dict[str, Any] = {**PARAMS, "lower": window.lower, "upper": window.upper}
    if window.upper is not None:
        return sql.SQL("{c} >= %(lower)s AND {c} < %(upper)s").format(c=cursor), params
    if not window.skip_keys:
        return sql.SQL("{c} >= %(lower)s").format(c=cursor), params
    params["skip"] = window.skip_keys
    return (
        sql.SQL("{c} > %(lower)s OR ({c} = %(lower)s AND NOT ({k} = ANY(%(skip)s::text[])))").format(
            c=cursor, k=key_expr(spec.source.primary_key)
        ),
        params,
    )


def select(relation: sql.Composable, columns: list[str], condition: sql.Composable | None) -> sql.Composed:
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {}").format(ident_list(columns), relation)
    if condition is not None:
        query = sql.SQL("{} WHERE {}").format(query, condition)
    return query


def next_watermark(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    relation: sql.Composable,
    condition: sql.Composable | None,
    params: dict[str, Any],
    window: Window,
) -> dict[str, Any] | None:
    """Newest cursor value in the batch and the keys of every source row carrying it."""
    from psycopg import sql

    if spec.source.cursor is None or not window.moves_watermark:
        return None
    cursor = sql.Identifier(spec.source.cursor)
    query = sql.SQL("SELECT max({c})::text FROM {r}").format(c=cursor, r=relation)
    if condition is not None:
        query = sql.SQL("{} WHERE {}").format(query, condition)
    row = conn.execute(query, params).fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    keys: list[str] = []
    if spec.source.primary_key and spec.target.write == "append":  # only append skips them
        keys = [
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT {k} FROM {r} WHERE {c} = %(value)s").format(
                    k=key_expr(spec.source.primary_key), r=relation, c=cursor
                ),
                {**PARAMS, "value": value},
            )
        ]
    return {"value": value, "keys": keys}
