"""``write: append``: the target keeps every version of a source row.

A version is told apart by the primary key and the cursor value: an update of a source row
(a new cursor value) arrives as one more target row, and a version the target holds already (a
re-read boundary, a rerun) is not appended twice. A target syncgate creates for an append flow
is unique on exactly that pair, not on the key alone (which would refuse the second version of
every row). Without a cursor the key alone tells rows apart: new keys are appended, and a row
the target holds keeps its first version. Without a primary key every batch is inserted as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef, ident_list
from syncgate.db.sql import compose, key_match, qualified
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from syncgate.spec.model import FlowSpec


def version_identity(spec: FlowSpec) -> list[str]:
    """The target columns that identify one version of a row (empty: none, insert as is)."""
    key = spec.target_primary_key
    if not key:
        return []
    cursor = spec.target_cursor
    return [*key, cursor] if cursor and cursor not in key else key


def add_version_key(conn: psycopg.Connection[Any], spec: FlowSpec, target: TableRef) -> None:
    """On a target created from a first append batch: one row per version, enforced."""
    identity = version_identity(spec)
    if not identity:
        return
    # NULLS NOT DISTINCT (PostgreSQL 15+): a row whose cursor is NULL is one version too.
    nulls = "NULLS NOT DISTINCT " if conn.info.server_version >= 150000 else ""
    conn.execute(compose(f"ALTER TABLE {{}} ADD UNIQUE {nulls}({{}})", target.sql, ident_list(identity)))


def append_versions(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    staging: TableRef,
    target: TableRef,
    columns: list[str],
    live: sql.Composable,
) -> int:
    """Insert the batch's versions the target does not hold yet; returns how many."""
    identity = version_identity(spec)
    insert = "INSERT INTO {t} ({c}) SELECT {sc} FROM {s} AS s WHERE ({live})"
    if not identity:
        return conn.execute(
            compose(
                insert,
                t=target.sql,
                c=ident_list(columns),
                sc=qualified(columns, "s"),
                s=staging.sql,
                live=live,
            )
        ).rowcount
    held = _same_version(spec, identity)
    _require_room_for_versions(conn, spec, staging, target, live, identity)
    return conn.execute(
        compose(
            insert + " AND NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {held})",
            t=target.sql,
            c=ident_list(columns),
            sc=qualified(columns, "s"),
            s=staging.sql,
            live=live,
            held=held,
        )  # fmt: skip
    ).rowcount


def _same_version(spec: FlowSpec, identity: list[str]) -> sql.Composable:
    from psycopg import sql

    key = spec.target_primary_key
    parts: list[sql.Composable] = [key_match(key, "t", "s")]
    parts += [
        sql.SQL("t.{c} IS NOT DISTINCT FROM s.{c}").format(c=sql.Identifier(c))
        for c in identity
        if c not in key
    ]
    return sql.SQL(" AND ").join(parts)


def _require_room_for_versions(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    staging: TableRef,
    target: TableRef,
    live: sql.Composable,
    identity: list[str],
) -> None:
    """A new version of a row the target holds needs a target that may hold two rows with that
    key: refuse, naming the constraint and the fix, when a unique index on fewer columns (a
    primary key on the source's key, as older syncgate versions created) would reject it."""

    cursor = spec.target_cursor
    if not cursor or cursor in spec.target_primary_key:
        return
    blocking = conn.execute(
        """
        SELECT i.indexrelid::regclass::text,
               array_agg(a.attname::text ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL)
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = %(table)s::regclass AND i.indisunique AND i.indpred IS NULL
        GROUP BY i.indexrelid
        """,
        {"table": target.sql.as_string(conn)},
    ).fetchall()
    narrow = [(name, cols) for name, cols in blocking if cols and cursor not in cols]
    if not narrow:
        return
    new_versions = conn.execute(
        compose(
            "SELECT count(*) FROM {s} AS s WHERE ({live}) AND EXISTS (SELECT 1 FROM {t} AS t WHERE {key}) "
            "AND NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {held})",
            s=staging.sql,
            t=target.sql,
            live=live,
            key=key_match(spec.target_primary_key, "t", "s"),
            held=_same_version(spec, identity),
        )  # fmt: skip
    ).fetchone()
    if not new_versions or not new_versions[0]:
        return
    name, cols = narrow[0]
    raise FatalError(
        f"flow {spec.id!r} appends new versions of {new_versions[0]} row(s) that target {target} holds, "
        f"but its unique index {name} on ({', '.join(cols)}) allows one row per key. `write: append` keeps "
        f"one row per ({', '.join(identity)}): replace that constraint, e.g. "
        f"{_fix(target, name, identity)}, or use `write: merge` to keep only the newest version; nothing "
        "was promoted"
    )


def _fix(target: TableRef, index: str, identity: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in identity)
    return f"ALTER TABLE {target} DROP CONSTRAINT {index.rsplit('.', 1)[-1]}, ADD UNIQUE NULLS NOT DISTINCT ({quoted})"
