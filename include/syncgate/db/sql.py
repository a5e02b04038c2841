"""Composing SQL from identifiers: never by string formatting of names or values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import sql


def compose(template: str, *args: Any, **kwargs: Any) -> sql.Composed:
    from psycopg import sql

    return sql.SQL(template).format(*args, **kwargs)


def key_match(key: list[str], left: str, right: str) -> sql.Composable:
    from psycopg import sql

    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(
            sql.Identifier(left), sql.Identifier(c), sql.Identifier(right), sql.Identifier(c)
        )
        for c in key
    )


def qualified(columns: list[str], alias: str) -> sql.Composable:
    from psycopg import sql

    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in columns
    )
