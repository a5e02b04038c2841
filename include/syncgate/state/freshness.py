"""Freshness SLAs: the batch check in the quality gate and the target's high-water mark at promote.

A flow's data is as fresh as the newest ``freshness.column`` value in its target; its lag is
now minus that value. ``max_age`` exceeded is a breach, ``warn_age`` exceeded a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from syncgate.db.identifiers import TableRef

if TYPE_CHECKING:
    import psycopg

    from syncgate.spec.model import FlowSpec

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "breach", "unknown"]
FRESHNESS_META = {"syncgate": "freshness"}
# Types whose max() is a point in time (a date counts from its midnight, UTC).
TEMPORAL_TYPES = ("timestamp", "date")


def is_temporal(pg_type: str | None) -> bool:
    """Whether the newest value of a column of this type is a point in time."""
    return bool(pg_type) and str(pg_type).lower().startswith(TEMPORAL_TYPES)


def status_of(lag: timedelta | None, max_age: timedelta, warn_age: timedelta | None) -> Status:
    """``breach`` past max_age, ``warn`` past warn_age, ``unknown`` without a measurement."""
    if lag is None:
        return "unknown"
    if lag > max_age:
        return "breach"
    if warn_age is not None and lag > warn_age:
        return "warn"
    return "ok"


def freshness_expectation(spec: FlowSpec, now: datetime, pg_type: str | None = None) -> dict[str, Any] | None:
    """The staged batch's newest ``freshness.column`` value must be younger than ``max_age``.

    Its severity is ``warning``, so a stale batch is reported but still promoted: stale data is
    still correct data, and refusing it would only leave the target staler. The breach is
    recorded and alerted by the freshness check after promote and by the monitor instead.
    """
    if spec.freshness is None:
        return None
    oldest = (now - spec.freshness.max_age).astimezone(UTC)
    kind = (pg_type or "").lower()
    # Compared with the column's own kind of value: a naive UTC timestamp for `timestamp`, a day
    # for `date` (an aware bound against naive values calls a batch of a second ago stale).
    if kind.startswith("date"):
        oldest_fresh = oldest.date().isoformat()
    elif kind.startswith("timestamp") and "with time zone" not in kind and kind != "timestamptz":
        oldest_fresh = oldest.replace(tzinfo=None).isoformat()
    else:
        oldest_fresh = oldest.isoformat()
    return {
        "type": "expect_column_max_to_be_between",
        "kwargs": {"column": spec.freshness.column, "min_value": oldest_fresh},
        "meta": {**FRESHNESS_META, "max_age_seconds": spec.freshness.max_age.total_seconds()},
        "severity": "warning",
    }


def freshness_column(spec: FlowSpec) -> str | None:
    """The column whose newest value dates the target: the SLA's, else the incremental cursor."""
    return spec.freshness.column if spec.freshness else spec.target_cursor


@dataclass(frozen=True)
class Measurement:
    """The target's high-water mark and lag at one moment, and its SLA status."""

    high_water_mark: datetime | None
    lag: timedelta | None
    status: Status | None  # None: the flow has no freshness SLA

    def audit_values(self) -> dict[str, Any]:
        return {
            "high_water_mark": self.high_water_mark.isoformat() if self.high_water_mark else None,
            "lag_seconds": self.lag.total_seconds() if self.lag is not None else None,
            "freshness_status": self.status,
        }


def measure(spec: FlowSpec, high_water_mark: datetime | None, now: datetime) -> Measurement:
    lag = now - high_water_mark if high_water_mark is not None else None
    fresh = spec.freshness
    status = status_of(lag, fresh.max_age, fresh.warn_age) if fresh else None
    return Measurement(high_water_mark, lag, status)


def after_promote(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run_id: str,
    batch: TableRef,
    typed_columns: list[tuple[str, str]],
    *,
    batch_is_target: bool,
    where_live: Any,
    target: TableRef | None,
) -> Measurement | None:
    """Measure the target's high-water mark inside the promote transaction and record it.

    ``batch`` is the promoted batch (or, after a first load or a replace, the target itself);
    ``target`` is the table the target writes, if any (measured the first time).
    An incremental batch only adds rows, so the new mark is the newer of the previous one and
    the batch's: no scan of a large target per run. Hard deletes of the newest rows can leave
    it overstated until the monitor measures the target itself.

    Returns:
        The measurement, or None when the flow has no temporal freshness column.
    """
    from syncgate.db.sql import compose

    column = freshness_column(spec)
    types = dict(typed_columns)
    if column is None or not is_temporal(types.get(column)):
        return None
    from psycopg import sql

    row = conn.execute(
        compose(
            "SELECT max(b.{c})::timestamptz FROM {t} AS b WHERE {live}",
            c=sql.Identifier(column), t=batch.sql, live=where_live,
        )
    ).fetchone()  # fmt: skip
    newest = row[0] if row else None
    if not batch_is_target:
        previous = _previous_mark(conn, spec, target)
        newest = max((v for v in (newest, previous) if v is not None), default=None)
    now = datetime.now(UTC)
    found = measure(spec, newest, now)
    if spec.freshness is not None:
        record(conn, spec, found, checked_by="promote", run_id=run_id, checked_at=now)
    return found


def _previous_mark(conn: psycopg.Connection[Any], spec: FlowSpec, target: TableRef | None) -> datetime | None:
    """The mark recorded by the flow's last promote, or (first time) the target's own max."""
    row = conn.execute(
        "SELECT high_water_mark::timestamptz FROM syncgate.sync_runs WHERE flow_id = %s "
        "AND status = 'success' AND high_water_mark IS NOT NULL ORDER BY started_at DESC LIMIT 1",
        (spec.id,),
    ).fetchone()
    if row is not None:
        return row[0]  # type: ignore[no-any-return]
    from psycopg import sql

    from syncgate.db.sql import compose

    column = freshness_column(spec)
    if target is None:
        return None
    row = conn.execute(
        compose("SELECT max({c})::timestamptz FROM {t}", c=sql.Identifier(str(column)), t=target.sql)
    ).fetchone()
    return row[0] if row else None


def record(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    found: Measurement,
    *,
    checked_by: Literal["promote", "monitor"],
    run_id: str | None,
    checked_at: datetime,
) -> None:
    """One ``syncgate.freshness`` row (the flow must have a freshness SLA)."""
    fresh = spec.freshness
    assert fresh is not None
    conn.execute(
        "INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, run_id, high_water_mark, "
        "lag_seconds, max_age_seconds, warn_age_seconds, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        freshness_row(spec.id, fresh.max_age, fresh.warn_age, found, checked_by, run_id, checked_at),
    )


def freshness_row(
    flow_id: str,
    max_age: timedelta,
    warn_age: timedelta | None,
    found: Measurement,
    checked_by: str,
    run_id: str | None,
    checked_at: datetime,
) -> tuple[Any, ...]:
    return (
        flow_id, checked_at, checked_by, run_id, found.high_water_mark,
        found.lag.total_seconds() if found.lag is not None else None,
        max_age.total_seconds(), warn_age.total_seconds() if warn_age else None,
        found.status or "unknown",
    )  # fmt: skip
