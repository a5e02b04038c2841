"""A sync flow's conflicts on its page: the latest run's counts, the parked ones, the log.

Reads in the page's read-only session; the resolve action writes through
``syncgate.conflicts.log.resolve``, the function the ``conflicts resolve`` command calls too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate.conflicts.log import Resolution, by_field_rule, resolve
from syncgate.spec.sync_model import SyncSpec
from syncgate.ui import queries

if TYPE_CHECKING:
    import psycopg

LOG_PER_PAGE = 25
PARKED_SHOWN = 100


@dataclass
class ConflictsView:
    """What the flow page's conflicts section shows."""

    sides: list[str]
    latest_run: str | None = None
    total: int = 0
    parked_count: int = 0
    by_field_rule: list[dict[str, Any]] = field(default_factory=list)
    parked: queries.Page | None = None
    log: queries.Page | None = None


def read_conflicts(conn: psycopg.Connection[Any], spec: SyncSpec, log_page: int) -> ConflictsView:
    view = ConflictsView(sides=spec.side_names)
    view.latest_run, counts = queries.latest_conflicts(conn, spec.id)
    if isinstance(counts, dict):
        view.total = _int(counts.get("total"))
        view.parked_count = _int(counts.get("parked"))
        view.by_field_rule = sorted(
            by_field_rule(counts), key=lambda r: (-_int(r.get("count")), str(r.get("field")))
        )
    if queries.has_conflict_log(conn):
        view.parked = queries.parked_conflicts(conn, spec.id, PARKED_SHOWN)
        view.log = queries.conflict_log(conn, spec.id, log_page, LOG_PER_PAGE)
    return view


def resolve_in_ui(spec: SyncSpec, conflict_id: int, side: str, by: str) -> Resolution:
    """Record a person's choice from the UI (a writable session on the flow's state database).

    Raises:
        ResolutionRefused: as ``syncgate.conflicts.log.resolve``.
        queries.StateUnavailable: the state database cannot be reached or written.
    """
    import psycopg

    from syncgate.db.connect import connect

    try:
        conn = connect(str(spec.state_conn_id))
    except Exception:  # unreachable, unknown conn id: the message must not echo its parameters
        raise queries.StateUnavailable(f"state database {spec.state_conn_id!r} is unreachable") from None
    try:
        with conn:
            return resolve(conn, conflict_id, flow_id=spec.id, sides=spec.side_names, side=side, by=by)
    except psycopg.Error as exc:
        raise queries.StateUnavailable(
            f"state database {spec.state_conn_id!r} refused the resolution ({type(exc).__name__})"
        ) from None
    finally:
        conn.close()


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
