"""SQL over a staged batch: the live-row filter and change detection (merge and push plans)."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from syncgate.spec.model import FlowSpec

if TYPE_CHECKING:
    from psycopg import sql


def live_rows(spec: FlowSpec, alias: str) -> sql.Composable:
    """Staged rows that are not soft-deleted (soft delete column null, or false for booleans)."""
    from psycopg import sql

    column = spec.target_soft_delete_column
    if spec.source.deletes != "soft" or column is None:
        return sql.SQL("TRUE")
    ident = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))
    return sql.SQL("({c} IS NULL OR {c}::text IN ('false', 'f'))").format(c=ident)


def newer_only(cursor: str, staged: str = "s") -> sql.Composable:
    """`` AND ...`` keeping a target row (``t``) whose cursor is newer than the staged one
    (``staged``: ``excluded`` in an upsert); for backfills."""
    from psycopg import sql

    return sql.SQL(" AND (t.{0} IS NULL OR {1}.{0} >= t.{0})").format(
        sql.Identifier(cursor), sql.Identifier(staged)
    )


def update_if_changed(
    values: list[tuple[str, str]], staged: str, newer_cursor: str | None, recast: Collection[str] = ()
) -> tuple[sql.Composable, sql.Composable]:
    """``SET`` list and condition updating target row ``t`` from ``staged`` (``s`` or
    ``excluded``) only where a value differs and, for backfills (``newer_cursor``), never to an
    older version of the row. ``values`` carry the target's types; ``recast`` names the staged
    columns of another type, compared as the target will store them (a ``numeric`` staged for a
    ``numeric(12,2)`` column would otherwise differ on every run)."""
    from psycopg import sql

    sets = sql.SQL(", ").join(
        sql.SQL("{0} = {1}.{0}").format(sql.Identifier(c), sql.Identifier(staged)) for c, _ in values
    )
    condition = sql.SQL("({}) IS DISTINCT FROM ({}){}").format(
        comparable_row(values, "t"),
        comparable_row(values, staged, recast),
        newer_only(newer_cursor, staged) if newer_cursor else sql.SQL(""),
    )
    return sets, condition


# Types whose '=' holds only between values that print the same: a merge compares these as
# they are (the bench's columns: integers, text, numeric(p,s), jsonb is not one...). Every other
# type compares by its text form: its '=' may be missing (json, xml, point) or call different
# values equal (box and circle compare areas; 1.0 = 1.00, '1 day' = '24 hours', -0 = 0), and a
# merge must not skip an update because the type's '=' says nothing changed.
_IDENTITY_EQUALITY = re.compile(
    r"(smallint|integer|bigint|boolean|text|character varying(\(\d+\))?|character\(\d+\)|name|\"char\""
    r"|date|timestamp(\(\d\))? with(out)? time zone|time(\(\d\))? without time zone|uuid|bytea|oid"
    r"|numeric\(\d+,-?\d+\)|macaddr|macaddr8)(\[\])*"
)


# An explicit cast to these truncates where storing the value fails: never compare through one.
_LENGTH_LIMITED = ("character varying", "character", "bit", "bit varying")


def comparable_row(
    columns: list[tuple[str, str]], alias: str, recast: Collection[str] = ()
) -> sql.Composable:
    """The columns of ``alias`` as a row to compare, typed as ``columns`` says: columns named in
    ``recast`` are cast to that type first (a staged value as the target will store it)."""
    from psycopg import sql

    parts = []
    for name, pg_type in columns:
        ref: sql.Composable = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))
        base = pg_type.split("(")[0].removesuffix("[]").strip()
        if name in recast and base not in _LENGTH_LIMITED:
            # pg_type comes from the target's catalog (format_type), not from a spec.
            ref = sql.SQL("CAST({} AS {})").format(ref, sql.SQL(pg_type))
        parts.append(ref if _IDENTITY_EQUALITY.fullmatch(pg_type) else sql.SQL("{}::text").format(ref))
    body = sql.SQL(", ").join(parts)
    return sql.SQL("ROW({})").format(body) if len(parts) == 1 else body
