"""``conflicts list`` and ``conflicts resolve``: the conflict log from a terminal.

Values are shown as the log stores them: a ``pii`` field's values are keyed hashes
(``hmac:...``), never in clear. The table truncates long values; ``--json`` keeps them whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from syncgate.cli.flows import CliError, by_state_database, state_database, sync_flows
from syncgate.conflicts.log import ResolutionRefused, Status, find_conflict, list_conflicts, resolve

VALUE_WIDTH = 40
HEADERS = ("id", "flow", "detected", "record", "field", "rule", "status", "winner", "side values")


def list_command(*, flow: str | None, status: Status, limit: int, as_json: bool, out: TextIO) -> None:
    """Print the newest ``limit`` conflicts of ``flow`` (every sync flow's without it)."""
    specs = sync_flows(flow=flow)
    rows: list[dict[str, Any]] = []
    for conn_id, group in by_state_database(specs).items():
        with state_database(conn_id) as conn:
            if conn is not None:
                rows += list_conflicts(conn, [s.id for s in group], status=status, limit=limit)
    # Each database gave its newest; across databases, keep the newest overall.
    rows.sort(key=lambda r: (r["detected_at"], r["id"]), reverse=True)
    rows = rows[:limit]
    sides = {s.id: s.side_names for s in specs}
    for row in rows:  # jsonb orders keys its own way: show the spec's side order
        row["side_values"] = in_side_order(row["side_values"], sides.get(row["flow_id"], []))
    if as_json:
        out.write(json.dumps([plain(r) for r in rows], indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return
    if not specs:
        out.write("No sync flows (two_way / multi_way specs) in the flows folder.\n")
        return
    if not rows:
        which = f"flow {flow}" if flow else "any sync flow"
        out.write(f"No {'' if status == 'all' else status + ' '}conflicts for {which}.\n")
        return
    out.write(format_table(rows))


def resolve_command(conflict_id: int, *, side: str, by: str, flow: str | None, out: TextIO) -> None:
    """Choose ``side`` for the parked conflict ``conflict_id``; the flow's next run applies it."""
    specs = sync_flows(flow=flow)
    found: list[tuple[str, Any]] = []
    for conn_id, group in by_state_database(specs).items():
        with state_database(conn_id) as conn:
            row = find_conflict(conn, conflict_id) if conn is not None else None
            if row is not None and row["flow_id"] in {s.id for s in group}:
                found.append((conn_id, next(s for s in group if s.id == row["flow_id"])))
    if not found:
        where = f"flow {flow!r}" if flow else "any sync flow"
        raise CliError(f"no conflict {conflict_id} in the conflict log of {where}")
    if len(found) > 1:
        flows = ", ".join(sorted(spec.id for _, spec in found))
        raise CliError(
            f"conflict id {conflict_id} exists in more than one state database ({flows}): pass --flow"
        )
    conn_id, spec = found[0]
    with state_database(conn_id) as conn:
        assert conn is not None
        try:
            done = resolve(conn, conflict_id, flow_id=spec.id, sides=spec.side_names, side=side, by=by)
        except ResolutionRefused as exc:
            raise CliError(str(exc)) from None
    again = (
        f" (replacing the earlier choice {done.previous!r})"
        if done.previous and done.previous != side
        else ""
    )
    out.write(
        f"Conflict {done.conflict_id} of flow {done.flow_id} (record {done.record_key}, field {done.field}): "
        f"side {done.side!r} chosen by {done.by}{again}. The flow's next run applies it.\n"
    )


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a plain-text table, one conflict a line."""
    lines = [HEADERS] + [
        (
            str(r["id"]),
            r["flow_id"],
            _when(r["detected_at"]),
            r["record_key"],
            r["field"],
            r["rule"],
            r["status"]
            if not r.get("resolution") or r["status"] != "parked"
            else f"parked -> {r['resolution']}",
            r["winner"] or "–",
            side_values(r["side_values"]),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS) - 1)]
    text = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        text.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(text) + "\n"


def side_values(values: Any) -> str:
    """``a=1  b="x"``: each side's value as JSON, long ones cut."""
    if not isinstance(values, dict):
        return _cut(json.dumps(values, default=str))
    return "  ".join(
        f"{side}={_cut(json.dumps(v, ensure_ascii=False, default=str))}" for side, v in values.items()
    )


def in_side_order(values: Any, sides: Sequence[str]) -> Any:
    """``values`` (side -> value) with the flow's sides first, in the spec's order."""
    if not isinstance(values, dict):
        return values
    rank = {side: i for i, side in enumerate(sides)}
    return dict(sorted(values.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _when(value: Any) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else str(value)
    )


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with JSON types only (timestamps as ISO 8601)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
