"""The alert rules: from a flow's freshness and recent runs to findings, one per incident kind.

Pure functions over already-fetched data, so the monitor and the tests judge alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from syncgate.observe.first_sync import FirstSync, grace, is_pending
from syncgate.observe.spikes import judge
from syncgate.spec.alerts import Alerts
from syncgate.spec.model import FlowSpec, Freshness
from syncgate.spec.sync_model import SyncSpec
from syncgate.state.freshness import Measurement

Kind = Literal["freshness", "failures", "lag_spike", "duration_spike", "retained_wal"]
KINDS: tuple[Kind, ...] = ("freshness", "failures", "lag_spike", "duration_spike", "retained_wal")
FAILED = ("failed", "rejected")


@dataclass(frozen=True)
class RunRow:
    """One audit row, as much of it as the rules need (never the error text: it may hold values)."""

    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    lag_seconds: float | None

    def seconds(self, now: datetime) -> float:
        """Duration; for a run still going, how long it has been running."""
        return ((self.finished_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True)
class Finding:
    """Whether an incident of ``kind`` should be open for the flow, and what it says."""

    flow_id: str
    kind: Kind
    active: bool
    severity: str = "critical"  # critical | warning
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None


def evaluate(
    spec: FlowSpec | SyncSpec,
    alerts: Alerts,
    measured: Measurement | None,
    history: Sequence[RunRow],
    now: datetime,
    reason: str | None = None,
    first_sync: FirstSync | None = None,
) -> list[Finding]:
    """One finding per kind; an inactive finding resolves that kind's open incident.

    Args:
        measured: the target's freshness now (None: the flow has no freshness SLA).
        history: the flow's recent runs, newest first.
        reason: why the freshness could not be measured, when it could not.
        first_sync: when the flow was first seen and whether it ever promoted (None: unknown,
            judged as a flow that has promoted).
    """
    latest = history[0].run_id if history else None
    return [
        _freshness(spec, alerts, measured, latest, reason, first_sync, now),
        _failures(spec, alerts, history),
        _lag_spike(spec, alerts, history),
        _duration_spike(spec, alerts, history, now),
    ]


def _freshness(
    spec: FlowSpec | SyncSpec, alerts: Alerts, measured: Measurement | None, run_id: str | None,
    reason: str | None, first_sync: FirstSync | None, now: datetime,
) -> Finding:  # fmt: skip
    fresh = spec.freshness
    if fresh is None or measured is None:
        return Finding(spec.id, "freshness", False, run_id=run_id)
    if is_pending(first_sync, fresh, alerts, now):  # its first run has not had its chance yet
        return Finding(spec.id, "freshness", False, summary="pending first sync", run_id=run_id)
    if first_sync is not None and not first_sync.promoted:
        return _never_promoted(spec, alerts, measured, run_id, reason, first_sync, now)
    if measured.status == "ok":
        return Finding(spec.id, "freshness", False, run_id=run_id)
    details: dict[str, Any] = {
        "status": measured.status,
        "column": fresh.column,
        "max_age_seconds": fresh.max_age.total_seconds(),
        "warn_age_seconds": fresh.warn_age.total_seconds() if fresh.warn_age else None,
        "high_water_mark": measured.high_water_mark.isoformat() if measured.high_water_mark else None,
        "lag_seconds": measured.lag.total_seconds() if measured.lag is not None else None,
    }
    if measured.status == "unknown" or measured.lag is None:
        why = reason or "no rows"
        return Finding(spec.id, "freshness", True, "critical",
                       f"freshness unknown: {why} (max_age {human(fresh.max_age.total_seconds())})",
                       {**details, "reason": why}, run_id)  # fmt: skip
    limit = fresh.max_age if measured.status == "breach" else fresh.warn_age
    assert limit is not None
    summary = (
        f"data is {human(measured.lag.total_seconds())} old, over its "
        f"{'max_age' if measured.status == 'breach' else 'warn_age'} of {human(limit.total_seconds())}"
    )
    severity = "critical" if measured.status == "breach" else "warning"
    return Finding(spec.id, "freshness", True, severity, summary, details, run_id)


def _never_promoted(
    spec: FlowSpec | SyncSpec, alerts: Alerts, measured: Measurement, run_id: str | None,
    reason: str | None, first_sync: FirstSync, now: datetime,
) -> Finding:  # fmt: skip
    """Past its first-sync grace without one successful run: whatever the target holds, the
    flow has never delivered it."""
    fresh = spec.freshness
    assert fresh is not None
    allowed = grace(fresh, alerts)
    why = reason or _target_state(fresh, measured)
    summary = (
        f"never synced: no run has promoted since the flow appeared {human(first_sync.waited(now).total_seconds())} "
        f"ago (first-sync grace {human(allowed.total_seconds())}); {why}"
    )
    details = {
        "status": measured.status,
        "column": fresh.column,
        "max_age_seconds": fresh.max_age.total_seconds(),
        "first_seen_at": first_sync.first_seen.isoformat(),
        "first_sync_grace_seconds": allowed.total_seconds(),
        "never_promoted": True,
        "reason": why,
    }
    return Finding(spec.id, "freshness", True, "critical", summary, details, run_id)


def _target_state(fresh: Freshness, measured: Measurement) -> str:
    """What the target holds, for a flow that never promoted (someone else may have loaded it)."""
    if measured.lag is None:
        return "the target has no rows"
    age = human(measured.lag.total_seconds())
    if measured.status == "breach":
        return f"data is {age} old, over its max_age of {human(fresh.max_age.total_seconds())}"
    return f"its newest data is {age} old"


def _failures(spec: FlowSpec | SyncSpec, alerts: Alerts, history: Sequence[RunRow]) -> Finding:
    limit = alerts.consecutive_failures
    # A superseded run wrote nothing (a newer batch carried it): it neither counts nor ends a streak.
    finished = [r for r in history if r.status not in ("running", "superseded")]
    streak: list[RunRow] = []
    for row in finished:
        if row.status not in FAILED:
            break
        streak.append(row)
    if limit is None or len(streak) < limit:
        return Finding(spec.id, "failures", False, run_id=finished[0].run_id if finished else None)
    runs = [{"run_id": r.run_id, "status": r.status} for r in streak[:10]]
    what = (
        "the last run failed or was rejected"
        if len(streak) == 1
        else (f"the last {len(streak)} runs failed or were rejected")
    )
    return Finding(
        spec.id, "failures", True, "critical", f"{what} (alert at {limit} in a row)",
        {"consecutive": len(streak), "threshold": limit, "runs": runs}, streak[0].run_id,
    )  # fmt: skip


def _lag_spike(spec: FlowSpec | SyncSpec, alerts: Alerts, history: Sequence[RunRow]) -> Finding:
    rule = alerts.lag_spike
    lags = [r for r in history if r.status == "success" and r.lag_seconds is not None]
    if rule is None or not lags:
        return Finding(spec.id, "lag_spike", False)
    spike = judge(lags[0].lag_seconds, [float(r.lag_seconds or 0) for r in lags[1:]], rule)
    if spike is None:
        return Finding(spec.id, "lag_spike", False, run_id=lags[0].run_id)
    return Finding(
        spec.id, "lag_spike", True, "warning",
        f"lag after the last run was {human(spike.value)}, {spike.ratio:.1f}x its median of "
        f"{human(spike.median)} over {spike.runs} runs (alert above {rule.factor:g}x)",
        _spike_details(spike, rule.factor), lags[0].run_id,
    )  # fmt: skip


def _duration_spike(
    spec: FlowSpec | SyncSpec, alerts: Alerts, history: Sequence[RunRow], now: datetime
) -> Finding:
    rule = alerts.lag_spike
    current = next((r for r in history if r.status in ("success", "running")), None)
    if rule is None or current is None:
        return Finding(spec.id, "duration_spike", False)
    baseline = [r.seconds(now) for r in history if r.status == "success" and r is not current]
    spike = judge(current.seconds(now), baseline, rule)
    if spike is None:
        return Finding(spec.id, "duration_spike", False, run_id=current.run_id)
    verb = "has been running for" if current.status == "running" else "took"
    return Finding(
        spec.id, "duration_spike", True, "warning",
        f"run {verb} {human(spike.value)}, {spike.ratio:.1f}x its median of {human(spike.median)} "
        f"over {spike.runs} runs (alert above {rule.factor:g}x)",
        {**_spike_details(spike, rule.factor), "running": current.status == "running"}, current.run_id,
    )  # fmt: skip


def _spike_details(spike: Any, factor: float) -> dict[str, Any]:
    return {
        "value_seconds": round(spike.value, 3),
        "median_seconds": round(spike.median, 3),
        "threshold_seconds": round(spike.threshold, 3),
        "factor": factor,
        "runs": spike.runs,
    }


def human(seconds: float) -> str:
    """``3h 12m``, ``45s``, ``2d 4h``, ``5h``: the largest unit and the next one when not zero."""
    total = int(round(abs(seconds)))
    sign = "-" if seconds < 0 else ""
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    i = next((i for i, (_, size) in enumerate(units) if total >= size), len(units) - 1)
    name, size = units[i]
    text = f"{total // size}{name}"
    if i + 1 < len(units) and (total % size) // units[i + 1][1]:
        text += f" {(total % size) // units[i + 1][1]}{units[i + 1][0]}"
    return sign + text
