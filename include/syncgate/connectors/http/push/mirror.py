"""The mirror: what the API has accepted, one row per record, in ``syncgate_mirror.<flow_id>``.

It holds the record key (and cursor) with the staged types, the API's id, the JSON record the
API accepted and its hash. Change detection compares staged rows with it; it moves only for
changes the API confirmed, in the transaction that records their outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef, ident_list
from syncgate.db.sql import key_match
from syncgate.errors import FatalError
from syncgate.spec.model import FlowSpec
from syncgate.state.schema import MIRROR_SCHEMA

if TYPE_CHECKING:
    import psycopg

# Bookkeeping columns; prefixed so they cannot meet a key or cursor column of the flow.
META = ("_sg_api_id", "_sg_row_hash", "_sg_record", "_sg_batch_id", "_sg_pushed_at")


def mirror_table(flow_id: str) -> TableRef:
    return TableRef(MIRROR_SCHEMA, flow_id)


def tracked_columns(spec: FlowSpec, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Key and cursor columns with their staged types (the mirror's typed columns)."""
    types = dict(columns)
    names = list(dict.fromkeys(c for c in [*spec.target_primary_key, spec.target_cursor] if c))
    clash = [n for n in names if n in META]
    if clash:
        raise FatalError(f"flow {spec.id!r}: column name(s) {', '.join(clash)} are reserved by syncgate")
    return [(n, types[n]) for n in names]


def ensure_mirror(conn: psycopg.Connection[Any], spec: FlowSpec, columns: list[tuple[str, str]]) -> TableRef:
    """Create the flow's mirror on its first push; check the key still fits it afterwards."""
    from psycopg import sql

    from syncgate.db.catalog import relation_exists, table_columns

    table = mirror_table(spec.id)
    tracked = tracked_columns(spec, columns)
    if relation_exists(conn, table):
        existing = {name for name, _ in table_columns(conn, table)}
        missing = [n for n, _ in tracked if n not in existing]
        if missing:
            raise FatalError(
                f"mirror {table} of flow {spec.id!r} has no column(s) {', '.join(missing)}: the key or cursor "
                f"changed. Drop the mirror to re-push every record (DROP TABLE {table})"
            )
        return table
    definitions = sql.SQL(", ").join(
        # Types come from the source catalog or a spec cast validated against a strict pattern.
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
        for n, t in tracked
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE {t} ({defs}, _sg_api_id text, _sg_row_hash text NOT NULL, _sg_record jsonb NOT NULL, "
            "_sg_batch_id text, _sg_pushed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ({key}))"
        ).format(t=table.sql, defs=definitions, key=ident_list(spec.target_primary_key))
    )
    return table


def apply_confirmed(conn: psycopg.Connection[Any], spec: FlowSpec, batch_id: str, seqs: list[int]) -> None:
    """Move the mirror for the confirmed changes ``seqs`` of a batch (caller's transaction)."""
    from psycopg import sql

    if not seqs:
        return
    flow_id = spec.id
    table = mirror_table(flow_id)
    names = _mirror_typed_columns(conn, table)
    match = key_match(spec.target_primary_key, "m", "r")
    # jsonb_populate_record turns the stored JSON key back into the mirror's own column types.
    conn.execute(
        sql.SQL(
            "DELETE FROM {t} AS m USING syncgate.push_changes AS c, "
            "jsonb_populate_record(NULL::{t}, c.record_key) AS r "
            "WHERE c.flow_id = %s AND c.batch_id = %s AND c.seq = ANY(%s) AND {match}"
        ).format(t=table.sql, match=match),
        (flow_id, batch_id, seqs),
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {t} ({cols}, _sg_api_id, _sg_row_hash, _sg_record, _sg_batch_id) "
            "SELECT {rcols}, c.api_id, c.row_hash, c.record, c.batch_id FROM syncgate.push_changes AS c, "
            "jsonb_populate_record(NULL::{t}, c.record_key || coalesce(c.cursor_value, '{{}}')) AS r "
            "WHERE c.flow_id = %s AND c.batch_id = %s AND c.seq = ANY(%s) AND c.op <> 'delete'"
        ).format(
            t=table.sql,
            cols=ident_list(names),
            rcols=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(n)) for n in names),
        ),
        (flow_id, batch_id, seqs),
    )


def _mirror_typed_columns(conn: psycopg.Connection[Any], table: TableRef) -> list[str]:
    from syncgate.db.catalog import table_columns

    return [name for name, _ in table_columns(conn, table) if name not in META]
