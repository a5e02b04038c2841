"""The sync health of every flow: the rows the health page and ``health.json`` show."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec
from syncgate.ui import queries

if TYPE_CHECKING:
    import psycopg

# Freshness verdicts (syncgate.freshness / audit freshness_status) -> traffic-light colour.
FRESHNESS_COLOURS = {"ok": "green", "warn": "amber", "breach": "red", "unknown": "grey"}
# The health page lists problems first, in this order, so none sits below the fold.
ATTENTION = ("failing", "rejected", "late", "ok", "never run")


@dataclass
class FlowHealth:
    """One flow's row on the health page."""

    flow_id: str
    description: str
    mode: str  # one_way | two_way | multi_way
    tags: list[str]
    owner: str
    schedule: str | None
    state_conn_id: str
    sla_max_age_seconds: float | None
    sla_warn_age_seconds: float | None
    # No run recorded yet: a new flow, not a late one (the monitor gives it a first-sync grace).
    status: str = "pending first sync"
    last_run_id: str | None = None
    last_run_started: datetime | None = None
    last_run_finished: datetime | None = None
    last_success: datetime | None = None
    rows_moved: int | None = None
    rows_extracted: int | None = None
    freshness: str = "none"
    freshness_colour: str = "grey"
    freshness_checked_at: datetime | None = None
    lag_seconds: float | None = None
    lag_trend: list[float | None] = field(default_factory=list)
    conflicts: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def attention(self) -> str:
        """What the flow needs from a person, one of ``ATTENTION``.

        ``failing``: the last run failed, or its state cannot be read; ``rejected``: the quality
        gate held back the last batch; ``late``: freshness past its warn or max age, or an open
        incident; ``ok``: none of these; ``never run``: nothing to judge yet.
        """
        if self.status == "failed" or (self.status == "unknown" and self.error):
            return "failing"
        if self.status == "rejected":
            return "rejected"
        if self.freshness in ("warn", "breach") or self.incidents:
            return "late"
        return "never run" if self.status == "never run" else "ok"

    def as_json(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies, which cost 60 ms for 200 flows.
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        data["tags"] = list(self.tags)
        data["lag_trend"] = list(self.lag_trend)
        data["incidents"] = [{k: _plain(v) for k, v in i.items()} for i in self.incidents]
        data["attention"] = self.attention
        return data


@dataclass
class HealthReport:
    """Every readable flow (optionally one tag's), plus what could not be shown."""

    flows: list[FlowHealth]
    tags: list[str]
    tag: str | None
    broken_specs: list[str]
    generated_at: datetime

    @property
    def needing_attention(self) -> int:
        """Flows that are failing, rejected or late."""
        return sum(1 for f in self.flows if f.attention in ATTENTION[:3])

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "tag": self.tag,
            "tags": self.tags,
            "broken_specs": self.broken_specs,
            "flows": [f.as_json() for f in self.flows],
        }


def flow_health(specs: list[FlowSpec | SyncSpec]) -> list[FlowHealth]:
    """Health rows for ``specs`` (in the given order), one state database at a time."""
    rows = {spec.id: blank(spec) for spec in specs}
    by_conn: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        by_conn[str(spec.state_conn_id)].append(spec.id)
    for conn_id, flow_ids in sorted(by_conn.items()):
        group = {flow_id: rows[flow_id] for flow_id in flow_ids}
        try:
            with queries.read_only(conn_id) as conn:
                if conn is not None:  # else no state schema yet: "pending first sync"
                    read_health(conn, group)
        except queries.StateUnavailable as exc:
            unavailable(group.values(), str(exc))
    return [rows[spec.id] for spec in specs]


def problems_first(rows: list[FlowHealth]) -> list[FlowHealth]:
    """Failing, then rejected, then late flows, then the ok ones and those never run; by flow id
    within each group."""
    return sorted(rows, key=lambda f: (ATTENTION.index(f.attention), f.flow_id))


def read_health(conn: psycopg.Connection[Any], rows: dict[str, FlowHealth]) -> None:
    """Fill ``rows`` (flows of one state database) from that database: two queries."""
    flow_ids = list(rows)
    found = queries.health_rows(conn, flow_ids)
    incidents = queries.open_incidents(conn, flow_ids)
    for flow_id, health in rows.items():
        _fill(health, found.get(flow_id), incidents.get(flow_id, []))


def unavailable(rows: Iterable[FlowHealth], reason: str) -> None:
    """Mark flows whose state database cannot be read."""
    for health in rows:
        health.status = "unknown"
        health.error = reason


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def freshness_colour(status: str | None) -> str:
    return FRESHNESS_COLOURS.get(status or "", "grey")


def now() -> datetime:
    return datetime.now(UTC)


def blank(spec: FlowSpec | SyncSpec) -> FlowHealth:
    """A flow's row before its state is read: pending first sync, freshness unknown (or none
    without SLA).

    A sync flow has no freshness SLA (``freshness`` is None): its freshness is ``none``.
    """
    sla = spec.freshness
    return FlowHealth(
        flow_id=spec.id,
        description=spec.description,
        mode=spec.mode if isinstance(spec, SyncSpec) else "one_way",
        tags=list(spec.tags),
        owner=spec.owner,
        schedule=spec.schedule,
        state_conn_id=str(spec.state_conn_id),
        sla_max_age_seconds=sla.max_age.total_seconds() if sla else None,
        sla_warn_age_seconds=sla.warn_age.total_seconds() if sla and sla.warn_age else None,
        freshness="unknown" if sla else "none",
    )


def _fill(health: FlowHealth, row: dict[str, Any] | None, incidents: list[dict[str, Any]]) -> None:
    health.incidents = incidents
    if not row:
        return
    if row["run_id"] is not None:
        health.status = row["status"]
        health.last_run_id = row["run_id"]
        health.last_run_started = row["started_at"]
        health.last_run_finished = row["finished_at"]
        health.rows_moved = row["rows_moved"]
        health.rows_extracted = row["rows_extracted"]
        health.conflicts = int(row["conflicts"] or 0)
    health.last_success = row["last_success"]
    # The newest freshness check wins; a flow checked only at promote time has the audit verdict.
    status = row["freshness"] or row["run_freshness"]
    if status:
        health.freshness = status
        health.freshness_checked_at = row["freshness_checked_at"] or row["finished_at"]
    health.lag_seconds = row["freshness_lag"] if row["freshness_lag"] is not None else row["lag_seconds"]
    health.lag_trend = list(row["lags"] or [])
    health.freshness_colour = freshness_colour(health.freshness if status else None)
