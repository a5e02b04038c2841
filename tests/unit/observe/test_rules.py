from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncgate.observe.first_sync import FirstSync
from syncgate.observe.rules import RunRow, evaluate, human
from syncgate.spec.alerts import Alerts
from syncgate.spec.model import FlowSpec
from syncgate.state.freshness import measure, status_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def spec(**extra: Any) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "f",
            "source": {
                "type": "postgres",
                "conn_id": "s",
                "table": "t",
                "primary_key": ["id"],
                "cursor": "u",
            },
            "target": {"type": "postgres", "conn_id": "d", "table": "t"},
            **extra,
        }
    )


def run(
    status: str, minutes_ago: int, seconds: float = 30, lag: float | None = None, run_id: str = ""
) -> RunRow:
    started = NOW - timedelta(minutes=minutes_ago)
    finished = None if status == "running" else started + timedelta(seconds=seconds)
    return RunRow(run_id or f"r{minutes_ago}", status, started, finished, lag)


def findings(
    flow: FlowSpec, history: list[RunRow], alerts: Alerts | None = None, measured: Any = None
) -> dict[str, Any]:
    return {f.kind: f for f in evaluate(flow, alerts or Alerts(), measured, history, NOW)}


def test_status_of_lag() -> None:
    two, one = timedelta(hours=2), timedelta(hours=1)
    assert status_of(None, two, one) == "unknown"
    assert status_of(timedelta(minutes=30), two, one) == "ok"
    assert status_of(timedelta(minutes=61), two, one) == "warn"
    assert status_of(timedelta(minutes=61), two, None) == "ok"
    assert status_of(timedelta(hours=2, seconds=1), two, one) == "breach"


def test_freshness_findings() -> None:
    flow = spec(freshness={"column": "u", "max_age": "2h", "warn_age": "1h"})
    stale = findings(flow, [], measured=measure(flow, NOW - timedelta(hours=3), NOW))["freshness"]
    assert stale.active and stale.severity == "critical" and stale.details["lag_seconds"] == 10800
    warn = findings(flow, [], measured=measure(flow, NOW - timedelta(minutes=90), NOW))["freshness"]
    assert warn.active and warn.severity == "warning" and "warn_age of 1h" in warn.summary
    ok = findings(flow, [], measured=measure(flow, NOW - timedelta(minutes=5), NOW))["freshness"]
    assert not ok.active
    unknown = evaluate(flow, Alerts(), measure(flow, None, NOW), [], NOW, "target table x does not exist")
    assert unknown[0].active and "target table x does not exist" in unknown[0].summary


def test_a_flow_that_never_promoted_is_pending_within_its_grace_then_an_incident() -> None:
    flow = spec(freshness={"column": "u", "max_age": "2h"})
    missing = measure(flow, None, NOW)
    why = "target table x does not exist"

    def judge(
        seen_ago: timedelta, promoted: bool = False, alerts: Alerts | None = None, history: Any = ()
    ) -> Any:
        first = FirstSync(NOW - seen_ago, promoted)
        return evaluate(flow, alerts or Alerts(), missing, list(history), NOW, why, first)[0]

    pending = judge(timedelta(minutes=5))  # the demo's first start: the first run is still going
    assert not pending.active and pending.summary == "pending first sync"
    assert not judge(timedelta(hours=1, minutes=59), history=[run("failed", 3)]).active
    late = judge(timedelta(hours=2, minutes=1), history=[run("failed", 3, run_id="r_failed")])
    assert late.active and late.severity == "critical" and late.run_id == "r_failed"
    assert late.summary == (
        "never synced: no run has promoted since the flow appeared 2h 1m ago (first-sync grace 2h); "
        "target table x does not exist"
    )
    assert late.details["never_promoted"] and late.details["first_sync_grace_seconds"] == 7200
    # Once it promoted, a missing target is judged as before: no grace for a dropped table.
    again = judge(timedelta(minutes=5), promoted=True)
    assert again.active and again.summary.startswith("freshness unknown: target table x does not exist")
    # Never promoted, even though the target already holds fresh rows (someone else loads it).
    fresh = evaluate(
        flow, Alerts(), measure(flow, NOW, NOW), [], NOW, None, FirstSync(NOW - timedelta(hours=3), False)
    )
    assert fresh[0].active and fresh[0].summary.endswith("(first-sync grace 2h); its newest data is 0s old")


def test_the_grace_is_configurable_and_zero_means_none() -> None:
    flow = spec(freshness={"column": "u", "max_age": "1d"})
    missing = measure(flow, None, NOW)
    first = FirstSync(NOW - timedelta(minutes=20), False)
    short = Alerts.model_validate({"first_sync_grace": "15m"})
    assert evaluate(flow, short, missing, [], NOW, "x", first)[0].active
    assert not evaluate(flow, Alerts(), missing, [], NOW, "x", first)[0].active  # default: max_age 1d
    at_once = Alerts.model_validate({"first_sync_grace": "0s"})
    assert evaluate(flow, at_once, missing, [], NOW, "x", FirstSync(NOW, False))[0].active


def test_consecutive_failures_count_from_the_newest_finished_run() -> None:
    history = [
        run("running", 1),
        run("failed", 10),
        run("rejected", 20),
        run("failed", 30),
        run("success", 40),
    ]
    found = findings(spec(), history)["failures"]
    assert found.active and found.details["consecutive"] == 3 and found.run_id == "r10"
    assert [r["status"] for r in found.details["runs"]] == ["failed", "rejected", "failed"]


def test_a_success_breaks_the_streak_and_thresholds_are_per_flow() -> None:
    history = [run("failed", 10), run("success", 20), run("failed", 30), run("failed", 40)]
    assert not findings(spec(), history)["failures"].active
    one = Alerts(consecutive_failures=1)
    assert findings(spec(), history, one)["failures"].active
    off = Alerts(consecutive_failures=None)
    assert not findings(spec(), [run("failed", i) for i in range(1, 9)], off)["failures"].active


def test_a_superseded_run_neither_breaks_nor_counts_in_a_failure_streak() -> None:
    """Review 2026-12-07: two runs in flight, HTTP target with ``rejects.fail_run`` and a record
    the API keeps refusing. Every newer run fails (its number is recorded as promoted even so,
    settle.settle) and the older run beside it ends 'superseded'. A superseded run wrote
    nothing and says nothing about the flow's health: it must not reset the streak, or the
    failures alert never fires while every run that reached the API fails."""
    history = [
        run("failed", 10),
        run("superseded", 20),
        run("failed", 30),
        run("superseded", 40),
        run("failed", 50),
        run("success", 60),
    ]
    found = findings(spec(), history)["failures"]
    assert found.active and found.details["consecutive"] == 3
    assert [r["status"] for r in found.details["runs"]] == ["failed"] * 3


def test_lag_spike_uses_successful_runs_only() -> None:
    history = [run("success", 1, lag=900), run("failed", 5, lag=None)] + [
        run("success", 10 * i, lag=60) for i in range(1, 7)
    ]
    found = findings(spec(), history)
    assert found["lag_spike"].active and found["lag_spike"].details["median_seconds"] == 60
    assert not found["duration_spike"].active


def test_spike_rules_switch_off() -> None:
    history = [run("success", 1, lag=900, seconds=900)] + [
        run("success", 10 * i, lag=60) for i in range(1, 7)
    ]
    found = findings(spec(), history, Alerts(lag_spike=None))
    assert not found["lag_spike"].active and not found["duration_spike"].active


def test_a_long_running_run_is_a_duration_spike() -> None:
    history = [run("running", 20)] + [run("success", 30 * i, seconds=60) for i in range(1, 7)]
    found = findings(spec(), history)["duration_spike"]
    assert found.active and found.details["running"] and found.details["value_seconds"] == 1200


def test_human_durations() -> None:
    assert human(0) == "0s"
    assert human(45) == "45s"
    assert human(3 * 3600 + 12 * 60 + 5) == "3h 12m"
    assert human(2 * 86400 + 4 * 3600) == "2d 4h"
    assert human(-90) == "-1m 30s"
    assert human(5 * 3600 + 20) == "5h"
    assert human(7200) == "2h"
