"""The JSON form of a staged row, built in SQL so change detection never leaves the database.

PostgreSQL's ``to_jsonb`` gives the natural JSON of each type (numbers, booleans, ISO-8601
timestamps, arrays, json objects); ``numeric`` travels as a decimal string instead, because a
JSON number would lose its scale ("1234.50") and precision in most API clients.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from syncgate.connectors.http.spec import http_target
from syncgate.errors import FatalError
from syncgate.spec.model import FlowSpec

if TYPE_CHECKING:
    from psycopg import sql

_DECIMAL_TYPES = ("numeric", "decimal")
_ARGS_PER_CALL = 50  # jsonb_build_object takes at most 100 arguments


def payload_columns(spec: FlowSpec, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, type) of the columns a record carries: ``target.fields``, else all but the soft delete column."""
    fields = http_target(spec).fields
    if fields is None:
        return [(n, t) for n, t in columns if n != spec.target_soft_delete_column]
    types = dict(columns)
    missing = [f for f in fields if f not in types]
    if missing:
        raise FatalError(
            f"flow {spec.id!r}: target.fields names column(s) the batch lacks: {', '.join(missing)}"
        )
    chosen = list(dict.fromkeys([*fields, spec.target_id_field]))  # creates always carry the id
    return [(n, types[n]) for n in chosen]


def value_sql(name: str, pg_type: str, alias: str) -> sql.Composable:
    from psycopg import sql

    ref = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))
    base = re.sub(r"\([^)]*\)", "", pg_type).strip()
    if base in _DECIMAL_TYPES:
        return sql.SQL("to_jsonb({}::text)").format(ref)
    if base.endswith("[]") and base.removesuffix("[]") in _DECIMAL_TYPES:
        return sql.SQL("to_jsonb({}::text[])").format(ref)
    return sql.SQL("to_jsonb({})").format(ref)


def object_sql(columns: list[tuple[str, str]], alias: str) -> sql.Composable:
    """A jsonb object of ``columns`` of the row ``alias``."""
    from psycopg import sql

    if not columns:
        return sql.SQL("'{}'::jsonb")
    calls = []
    for start in range(0, len(columns), _ARGS_PER_CALL):
        pairs = [
            sql.SQL("{}, {}").format(sql.Literal(name), value_sql(name, pg_type, alias))
            for name, pg_type in columns[start : start + _ARGS_PER_CALL]
        ]
        calls.append(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs)))
    return sql.SQL(" || ").join(calls)


def digest_sql(expr: sql.Composable) -> sql.Composable:
    """Hex SHA-256 of a jsonb expression's canonical text."""
    from psycopg import sql

    return sql.SQL("encode(sha256(convert_to(({})::text, 'UTF8')), 'hex')").format(expr)
