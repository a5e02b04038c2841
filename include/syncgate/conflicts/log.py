"""Read the conflict log (``syncgate.sync_conflicts``) and record a person's resolution.

The reconcile stage writes the log (``syncgate.reconcile.store.log_conflicts``); this module is
what the ``conflicts`` command and the UI share: one query per listing, and one ``resolve``
that both call, so a choice made in either place is the same row update. Values of ``pii``
fields are keyed hashes in the table already: nothing here ever sees them in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

Status = Literal["parked", "resolved", "all"]
STATUSES: tuple[Status, ...] = ("parked", "resolved", "all")

COLUMNS = (
    "id", "flow_id", "run_id", "record_key", "field", "base_value", "side_values", "rule", "winner",
    "value", "status", "detected_at", "resolution", "resolved_by", "resolved_at",
)  # fmt: skip
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM syncgate.sync_conflicts"


class ResolutionRefused(FatalError):
    """A resolution that cannot be recorded (unknown conflict, not parked, unknown side)."""


@dataclass(frozen=True)
class Resolution:
    """What ``resolve`` recorded: the conflict, the side chosen, and the side chosen before, if any."""

    conflict_id: int
    flow_id: str
    record_key: str
    field: str
    side: str
    by: str
    previous: str | None


def list_conflicts(
    conn: psycopg.Connection[Any],
    flow_ids: Sequence[str],
    *,
    status: Status = "parked",
    run_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The flows' conflicts, newest first (``status`` ``all``: parked and resolved)."""
    from psycopg.rows import dict_row

    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    where = ["flow_id = ANY(%(flows)s)"]
    if status != "all":
        where.append("status = %(status)s")
    if run_id is not None:
        where.append("run_id = %(run)s")
    query = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY detected_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
    params = {"flows": list(flow_ids), "status": status, "run": run_id, "limit": limit, "offset": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def run_conflicts(
    conn: psycopg.Connection[Any], flow_id: str, run_id: str, *, resolved_since: Any = None, limit: int = 200
) -> list[dict[str, Any]]:
    """A run's conflicts, newest first: those it detected and, with ``resolved_since`` (the run's
    start), the parked ones it resolved since, whose rows keep the run that parked them."""
    from psycopg.rows import dict_row

    query = (
        f"{_SELECT} WHERE flow_id = %(flow)s AND (run_id = %(run)s OR resolved_at >= %(since)s) "
        "ORDER BY detected_at DESC, id DESC LIMIT %(limit)s"
    )
    params = {"flow": flow_id, "run": run_id, "since": resolved_since, "limit": limit}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def count_conflicts(conn: psycopg.Connection[Any], flow_id: str, *, status: Status = "all") -> int:
    """How many conflicts of the flow the log holds (``status`` as in ``list_conflicts``)."""
    query = "SELECT count(*) FROM syncgate.sync_conflicts WHERE flow_id = %s"
    params: tuple[Any, ...] = (flow_id,)
    if status != "all":
        query += " AND status = %s"
        params += (status,)
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def find_conflict(conn: psycopg.Connection[Any], conflict_id: int) -> dict[str, Any] | None:
    """One conflict row by id, or None."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"{_SELECT} WHERE id = %s", (conflict_id,)).fetchone()


def resolve(
    conn: psycopg.Connection[Any],
    conflict_id: int,
    *,
    flow_id: str,
    sides: Sequence[str],
    side: str,
    by: str,
) -> Resolution:
    """Record that ``side``'s value wins the parked conflict ``conflict_id`` of ``flow_id``.

    The flow's next run applies it (``syncgate.reconcile.store.resolutions``): that side's
    value is written to every side and the row becomes ``resolved``. Choosing again before that
    run replaces the choice. Commits its own transaction.

    Raises:
        ResolutionRefused: no such conflict in the flow, it is not parked, or ``side`` is not one
            of the flow's ``sides``; nothing is changed.
    """
    if side not in sides:
        raise ResolutionRefused(f"flow {flow_id!r} has no side {side!r}; choose one of: {', '.join(sides)}")
    with conn.transaction():
        # FOR UPDATE: two people resolving at once are applied one after the other.
        row = conn.execute(
            "SELECT flow_id, record_key, field, status, resolution FROM syncgate.sync_conflicts "
            "WHERE id = %s FOR UPDATE",
            (conflict_id,),
        ).fetchone()
        if row is None or row[0] != flow_id:
            raise ResolutionRefused(f"flow {flow_id!r} has no conflict {conflict_id}")
        _, record_key, field, status, previous = row
        if status != "parked":
            raise ResolutionRefused(
                f"conflict {conflict_id} of flow {flow_id!r} is {status}, not parked: there is nothing to resolve"
            )
        conn.execute(
            "UPDATE syncgate.sync_conflicts SET resolution = %s, resolved_by = %s WHERE id = %s",
            (side, by, conflict_id),
        )
    return Resolution(conflict_id, flow_id, record_key, field, side, by, previous)


def by_field_rule(counts: Any) -> list[dict[str, Any]]:
    """The ``by_field_rule`` list of an audit row's ``conflicts`` (empty for any other shape)."""
    if not isinstance(counts, dict):
        return []
    rows = counts.get("by_field_rule")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
