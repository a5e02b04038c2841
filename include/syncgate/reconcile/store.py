"""The sync state in the flow's state database: bases, the echo ledger, pending writes, conflicts.

Tables (``syncgate.state.schema``): ``sync_records`` (the merge base per record),
``sync_ledger`` (per side and record: the side's key and what it holds), ``sync_pending``
(records a side has still to receive) and ``sync_conflicts`` (the conflict log).
Every read takes the keys it needs: a run's cost grows with its changes, not with the tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from syncgate.reconcile.merge import Conflict, Merged, Origin
from syncgate.reconcile.plan import Change, RecordState

if TYPE_CHECKING:
    import psycopg


def lock_flow(conn: psycopg.Connection[Any], flow_id: str) -> None:
    """Serialise the writes of one sync flow's state (reconcile's commit, the sides' settles)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.sync:' || %s))", (flow_id,))


def load_states(
    conn: psycopg.Connection[Any], flow_id: str, keys: Iterable[str], sides: Iterable[str] | None = None
) -> dict[str, RecordState]:
    """The base and ledger of ``keys`` (an empty state for a record never seen).

    ``sides`` (the flow's side names) lets the ledger read go by its whole primary key
    (flow, side, record): without it the read walks every ledger entry of the flow.
    """
    wanted = sorted(set(keys))
    states = {key: RecordState() for key in wanted}
    if not wanted:
        return states
    rows = conn.execute(
        "SELECT record_key, merged, origins FROM syncgate.sync_records WHERE flow_id = %s AND record_key = ANY(%s)",
        (flow_id, wanted),
    ).fetchall()
    for key, merged, origins in rows:
        states[key].merged = Merged(merged, {f: Origin(o[0], o[1]) for f, o in (origins or {}).items()})
    if sides is None:
        rows = conn.execute(
            "SELECT side, record_key, known, parked FROM syncgate.sync_ledger "
            "WHERE flow_id = %s AND record_key = ANY(%s)",
            (flow_id, wanted),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT side, record_key, known, parked FROM syncgate.sync_ledger "
            "WHERE flow_id = %s AND side = ANY(%s) AND record_key = ANY(%s)",
            (flow_id, sorted(set(sides)), wanted),
        ).fetchall()
    for side, key, known, parked in rows:
        states[key].known[side] = known
        if parked is not None:
            states[key].parked[side] = Change(parked.get("values"), parked.get("at"))
    return states


def side_keys(conn: psycopg.Connection[Any], flow_id: str, side: str, keys: Iterable[str]) -> dict[str, Any]:
    """The side's own key of each record it holds (the cross-reference)."""
    rows = conn.execute(
        "SELECT record_key, side_key FROM syncgate.sync_ledger "
        "WHERE flow_id = %s AND side = %s AND record_key = ANY(%s) AND side_key IS NOT NULL",
        (flow_id, side, sorted(set(keys))),
    ).fetchall()
    return dict(rows)


def records_of_side_keys(
    conn: psycopg.Connection[Any], flow_id: str, side: str, side_keys: list[Any]
) -> dict[str, str]:
    """The record each of the side's own keys belongs to (JSON of the side key -> record key)."""
    if not side_keys:
        return {}
    rows = conn.execute(
        "SELECT side_key::text, record_key FROM syncgate.sync_ledger "
        "WHERE flow_id = %s AND side = %s AND known IS NOT NULL AND side_key = ANY(%s::jsonb[])",
        (flow_id, side, [json.dumps(k) for k in side_keys]),
    ).fetchall()
    return {json.dumps(json.loads(text), sort_keys=True): key for text, key in rows}


def held_keys(conn: psycopg.Connection[Any], flow_id: str, side: str) -> list[tuple[str, Any]]:
    """(record key, side key) of every record the side holds: hard deletes compare its key set."""
    return conn.execute(
        "SELECT record_key, side_key FROM syncgate.sync_ledger "
        "WHERE flow_id = %s AND side = %s AND known IS NOT NULL AND side_key IS NOT NULL",
        (flow_id, side),
    ).fetchall()


def pending_keys(conn: psycopg.Connection[Any], flow_id: str) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT record_key FROM syncgate.sync_pending WHERE flow_id = %s", (flow_id,)
    )
    return {r[0] for r in rows}


def resolutions(
    conn: psycopg.Connection[Any], flow_id: str, logged_key: Callable[[str], str] = str
) -> dict[str, dict[str, str]]:
    """Parked conflicts a person resolved: record key -> field -> the side chosen.

    The log may hold a record's key as a keyed hash (``logged_key``: its match fields are pii):
    the parked records in the ledger map it back.
    """
    chosen: dict[str, dict[str, str]] = {}
    rows = conn.execute(
        "SELECT record_key, field, resolution FROM syncgate.sync_conflicts "
        "WHERE flow_id = %s AND status = 'parked' AND resolution IS NOT NULL",
        (flow_id,),
    ).fetchall()
    if not rows:
        return chosen
    parked = conn.execute(
        "SELECT DISTINCT record_key FROM syncgate.sync_ledger WHERE flow_id = %s AND parked IS NOT NULL",
        (flow_id,),
    )
    real = {logged_key(key): key for (key,) in parked}
    for logged, field, side in rows:
        if logged in real:
            chosen.setdefault(real[logged], {})[field] = side
    return chosen


def parked_keys(conn: psycopg.Connection[Any], flow_id: str) -> set[str]:
    """Records with an open parked conflict (their ledger remembers the parked changes)."""
    rows = conn.execute(
        "SELECT DISTINCT record_key FROM syncgate.sync_ledger WHERE flow_id = %s AND parked IS NOT NULL",
        (flow_id,),
    )
    return {r[0] for r in rows}


def close_parked(conn: psycopg.Connection[Any], flow_id: str, logged_keys: list[str]) -> None:
    """Parked conflicts of records the sides settled themselves (they now agree): no longer open."""
    if logged_keys:
        conn.execute(
            "UPDATE syncgate.sync_conflicts SET status = 'resolved', resolved_at = now() "
            "WHERE flow_id = %s AND status = 'parked' AND record_key = ANY(%s)",
            (flow_id, logged_keys),
        )


def log_conflicts(
    conn: psycopg.Connection[Any],
    flow_id: str,
    run_id: str,
    conflicts: Iterable[tuple[str, Conflict]],
    shown: Any,
    logged_key: Callable[[str], str] = str,
) -> int:
    """Write the run's conflicts; ``shown(field, value)`` and ``logged_key(record key)`` hash
    what must not be kept in clear.

    A conflict parked again (no resolution yet) updates its open row; a manual choice applied
    closes it. A retried task writes each row once.
    """
    count = 0
    for real_key, c in conflicts:
        key = logged_key(real_key)
        side_values = {side: shown(c.field, v) for side, v in c.side_values.items()}
        values = (
            json.dumps(shown(c.field, c.base_value)),
            json.dumps(side_values),
            json.dumps(shown(c.field, c.value)),
        )
        open_row = conn.execute(
            "SELECT id FROM syncgate.sync_conflicts WHERE flow_id = %s AND record_key = %s AND field = %s "
            "AND status = 'parked' ORDER BY id DESC LIMIT 1",
            (flow_id, key, c.field),
        ).fetchone()
        if open_row is not None and (c.status == "parked" or c.rule == "manual"):
            conn.execute(
                "UPDATE syncgate.sync_conflicts SET side_values = %s::jsonb, status = %s, winner = %s, "
                "value = %s::jsonb, resolved_at = CASE WHEN %s = 'resolved' THEN now() END WHERE id = %s",
                (values[1], c.status, c.winner, values[2], c.status, open_row[0]),
            )
        else:
            conn.execute(
                "INSERT INTO syncgate.sync_conflicts (flow_id, run_id, record_key, field, base_value, side_values, "
                "rule, winner, value, status) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::jsonb, %s) "
                "ON CONFLICT (flow_id, run_id, record_key, field) DO NOTHING",
                (flow_id, run_id, key, c.field, values[0], values[1], c.rule, c.winner, values[2], c.status),
            )
        count += 1
    return count


def mark_pending(
    conn: psycopg.Connection[Any], flow_id: str, run_id: str, pairs: Iterable[tuple[str, str]]
) -> None:
    """Record the writes this run planned: each stays pending until its side settles it."""
    rows = [(flow_id, side, key, run_id) for side, key in pairs]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO syncgate.sync_pending (flow_id, side, record_key, run_id) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (flow_id, side, record_key) DO UPDATE SET run_id = EXCLUDED.run_id",
                rows,
            )


def clear_pending(conn: psycopg.Connection[Any], flow_id: str, side: str, keys: Iterable[str]) -> None:
    conn.execute(
        "DELETE FROM syncgate.sync_pending WHERE flow_id = %s AND side = %s AND record_key = ANY(%s)",
        (flow_id, side, sorted(set(keys))),
    )


def save(
    conn: psycopg.Connection[Any],
    flow_id: str,
    side: str,
    run_id: str,
    states: Mapping[str, RecordState],
    new_side_keys: Mapping[str, Any],
) -> None:
    """Write the settled states of one side's records: the bases and that side's ledger rows."""
    records = [
        record_row(flow_id, key, state, run_id) for key, state in states.items() if state.merged is not None
    ]
    ledger = [ledger_row(flow_id, side, key, state, new_side_keys.get(key)) for key, state in states.items()]
    save_rows(conn, records, ledger)


def record_row(flow_id: str, key: str, state: RecordState, run_id: str) -> tuple[Any, ...]:
    """A ``sync_records`` row of a record's base."""
    assert state.merged is not None
    origins = {f: [o.side, o.at] for f, o in state.merged.origins.items()}
    merged = None if state.merged.values is None else json.dumps(state.merged.values)
    return (flow_id, key, merged, json.dumps(origins), run_id)


def ledger_row(flow_id: str, side: str, key: str, state: RecordState, side_key: Any) -> tuple[Any, ...]:
    """A ``sync_ledger`` row: the side's key of the record (kept when None) and what it holds."""
    parked = state.parked.get(side)
    return (
        flow_id,
        side,
        key,
        None if side_key is None else json.dumps(side_key),
        None if state.known.get(side) is None else json.dumps(state.known[side]),
        None if parked is None else json.dumps({"values": parked.values, "at": parked.at}),
    )


def save_rows(
    conn: psycopg.Connection[Any], records: list[tuple[Any, ...]], ledger: list[tuple[Any, ...]]
) -> None:
    """Upsert prepared ``record_row`` and ``ledger_row`` rows."""
    # COPY into a session temp table, then one INSERT ... ON CONFLICT per table: a row-by-row
    # upsert of a first sync's records costs a round trip and a statement each.
    if records:
        _copy_upsert(
            conn, "sync_records", ["flow_id", "record_key", "merged", "origins", "run_id"],
            ["text", "text", "jsonb", "jsonb", "text"], records,
            "ON CONFLICT (flow_id, record_key) DO UPDATE SET merged = EXCLUDED.merged, "
            "origins = EXCLUDED.origins, run_id = EXCLUDED.run_id, updated_at = now()",
        )  # fmt: skip
    if ledger:
        _copy_upsert(
            conn, "sync_ledger", ["flow_id", "side", "record_key", "side_key", "known", "parked"],
            ["text", "text", "text", "jsonb", "jsonb", "jsonb"], ledger,
            "ON CONFLICT (flow_id, side, record_key) DO UPDATE SET "
            "side_key = COALESCE(EXCLUDED.side_key, syncgate.sync_ledger.side_key), "
            "known = EXCLUDED.known, parked = EXCLUDED.parked, updated_at = now()",
        )  # fmt: skip


def _copy_upsert(
    conn: psycopg.Connection[Any],
    table: str,
    columns: list[str],
    types: list[str],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
) -> None:
    """Upsert ``rows`` into ``syncgate.<table>``: COPY into a temp table, then one statement."""
    scratch = f"syncgate_save_{table}"  # a session's own temp table, emptied before each use
    names = ", ".join(columns)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ({', '.join(f'{c} {t}' for c, t in zip(columns, types, strict=True))})"
        )
        cur.execute(f"TRUNCATE {scratch}")
        with cur.copy(f"COPY {scratch} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO syncgate.{table} ({names}) SELECT {names} FROM {scratch} {on_conflict}")
