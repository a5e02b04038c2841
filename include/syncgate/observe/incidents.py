"""Alert incidents in ``syncgate.incidents``: one open per flow and kind, so alerts de-duplicate.

A finding opens an incident (notify), keeps it open (re-notify at most every
``renotify_every``, or at once when it escalates from warning to critical) or resolves it
(a recovery notice, owed only if the incident was ever notified). ``last_notified_at`` and
``resolution_notified_at`` are set only after a delivery succeeded, so a notice that could not
be delivered is tried again by the next monitor run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from syncgate.observe.rules import Finding

if TYPE_CHECKING:
    import psycopg

Event = Literal["opened", "escalated", "reminder", "resolved"]
# Recovery notices that could not be delivered are retried for this long, then dropped.
RECOVERY_RETRY = timedelta(days=1)


@dataclass(frozen=True)
class Incident:
    id: int
    flow_id: str
    kind: str
    severity: str
    summary: str
    opened_at: datetime
    last_notified_at: datetime | None
    notify_count: int


@dataclass(frozen=True)
class Notice:
    """Something to tell the flow's notifiers."""

    incident_id: int
    flow_id: str
    kind: str
    event: Event
    severity: str
    summary: str
    opened_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None


_COLUMNS = "id, flow_id, kind, severity, summary, opened_at, last_notified_at, notify_count"


def read_open(conn: psycopg.Connection[Any], flow_ids: list[str]) -> dict[tuple[str, str], Incident]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM syncgate.incidents WHERE status = 'open' AND flow_id = ANY(%s)",
        (flow_ids,),
    ).fetchall()
    return {(r[1], r[2]): Incident(*r) for r in rows}


def reconcile(
    conn: psycopg.Connection[Any],
    finding: Finding,
    current: Incident | None,
    renotify_every: timedelta,
    now: datetime,
) -> Notice | None:
    """Bring the flow's incident of ``finding.kind`` in line with the finding; the notice owed, if any."""
    from psycopg.types.json import Jsonb

    details = Jsonb({**finding.details, "run_id": finding.run_id})
    if not finding.active:
        if current is None:
            return None
        resolved = conn.execute(
            "UPDATE syncgate.incidents SET status = 'resolved', resolved_at = %s "
            "WHERE id = %s AND status = 'open' RETURNING id",
            (now, current.id),
        ).fetchone()
        if resolved is None:  # another monitor run resolved it a moment ago: it tells
            return None
        if current.last_notified_at is None:  # nobody was told it opened: no recovery to tell
            conn.execute(
                "UPDATE syncgate.incidents SET resolution_notified_at = %s WHERE id = %s", (now, current.id)
            )
            return None
        return Notice(
            current.id, finding.flow_id, finding.kind, "resolved", current.severity,
            current.summary, current.opened_at, finding.details, finding.run_id,
        )  # fmt: skip
    if current is None:
        row = conn.execute(
            "INSERT INTO syncgate.incidents (flow_id, kind, severity, summary, details, opened_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (finding.flow_id, finding.kind, finding.severity, finding.summary, details, now),
        ).fetchone()
        if row is None:  # another monitor run opened it a moment ago: it notifies
            return None
        return _notice(row[0], finding, "opened", now)
    still_open = conn.execute(
        "UPDATE syncgate.incidents SET severity = %s, summary = %s, details = %s "
        "WHERE id = %s AND status = 'open' RETURNING id",
        (finding.severity, finding.summary, details, current.id),
    ).fetchone()
    if still_open is None:
        return None
    if finding.severity == "critical" and current.severity != "critical":
        return _notice(current.id, finding, "escalated", current.opened_at)
    if current.last_notified_at is None or now - current.last_notified_at >= renotify_every:
        return _notice(current.id, finding, "reminder", current.opened_at)
    return None


def owed_recoveries(conn: psycopg.Connection[Any], flow_ids: list[str], now: datetime) -> list[Notice]:
    """Recovery notices of earlier runs whose delivery failed."""
    rows = conn.execute(
        "SELECT id, flow_id, kind, severity, summary, details, opened_at FROM syncgate.incidents "
        "WHERE status = 'resolved' AND resolution_notified_at IS NULL AND last_notified_at IS NOT NULL "
        "AND resolved_at > %s AND flow_id = ANY(%s) ORDER BY id",
        (now - RECOVERY_RETRY, flow_ids),
    ).fetchall()
    return [
        Notice(r[0], r[1], r[2], "resolved", r[3], r[4], r[6], dict(r[5] or {}), (r[5] or {}).get("run_id"))
        for r in rows
    ]  # fmt: skip


def mark_delivered(conn: psycopg.Connection[Any], notice: Notice, now: datetime) -> None:
    if notice.event == "resolved":
        conn.execute(
            "UPDATE syncgate.incidents SET resolution_notified_at = %s WHERE id = %s",
            (now, notice.incident_id),
        )
    else:
        conn.execute(
            "UPDATE syncgate.incidents SET last_notified_at = %s, notify_count = notify_count + 1 WHERE id = %s",
            (now, notice.incident_id),
        )


def _notice(incident_id: int, finding: Finding, event: Event, opened_at: datetime) -> Notice:
    return Notice(
        incident_id, finding.flow_id, finding.kind, event, finding.severity,
        finding.summary, opened_at, finding.details, finding.run_id,
    )  # fmt: skip
