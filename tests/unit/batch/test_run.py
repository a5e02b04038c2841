"""The identity of one flow run, and its staging-safe key."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from syncgate.batch.run import RunInfo

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 2, tzinfo=UTC)


def test_the_run_key_is_twelve_hex_characters_stable_per_flow_and_run() -> None:
    key = RunInfo("orders", "manual__2026-01-01T00:00:00+00:00").key
    assert re.fullmatch(r"[0-9a-f]{12}", key)
    assert RunInfo("orders", "manual__2026-01-01T00:00:00+00:00", "scheduled").key == key
    assert RunInfo("orders", "manual__2026-01-02T00:00:00+00:00").key != key
    assert RunInfo("customers", "manual__2026-01-01T00:00:00+00:00").key != key


def test_only_a_backfill_run_is_a_backfill() -> None:
    assert RunInfo("f", "r", "backfill").is_backfill
    assert not any(RunInfo("f", "r", t).is_backfill for t in ("manual", "scheduled", "asset_triggered"))


def test_run_info_maps_airflow_run_types() -> None:
    from airflow.utils.types import DagRunType

    class DagRun:
        run_id = "backfill__2026-01-01"
        run_type = DagRunType.BACKFILL_JOB

    run = RunInfo.from_airflow(
        "f", {"dag_run": DagRun(), "data_interval_start": START, "data_interval_end": END}
    )
    assert run.is_backfill and run.interval_start == START and run.interval_end == END
    assert run.key == RunInfo("f", "backfill__2026-01-01").key and len(run.key) == 12


def test_a_run_without_a_data_interval_has_none() -> None:
    class DagRun:
        run_id = "manual__1"
        run_type = "manual"  # a plain string, as older run objects carry

    run = RunInfo.from_airflow("f", {"dag_run": DagRun()})
    assert (run.run_type, run.interval_start, run.interval_end, run.is_backfill) == (
        "manual",
        None,
        None,
        False,
    )


class Event:
    def __init__(self, payload: object = None) -> None:
        self.extra = {"from_trigger": True, "payload": payload} if payload is not None else {}


def test_an_event_run_sums_its_events_and_joins_the_trigger_types() -> None:
    from airflow.utils.types import DagRunType

    class DagRun:
        run_id = "asset_triggered__1"
        run_type = DagRunType.ASSET_TRIGGERED

    events = {
        "syncgate_events__f": [
            Event({"flow_id": "f", "trigger": "webhook", "events": 3}),
            Event({"flow_id": "f", "trigger": "wal", "events": 1}),
            Event({"flow_id": "f", "trigger": "webhook", "events": 2}),
        ]
    }
    run = RunInfo.from_airflow("f", {"dag_run": DagRun(), "triggering_asset_events": events})
    assert (run.triggered_by, run.trigger_events) == ("wal+webhook", 6)


def test_an_asset_event_without_a_trigger_payload_counts_once() -> None:
    from syncgate.batch.run import triggered

    assert triggered("asset_triggered", {"a": [Event(), Event({"trigger": "wal", "events": "x"})]}) == (
        "asset+wal", 2,
    )  # fmt: skip
    assert triggered("asset_triggered", {}) == ("asset", 0)


@pytest.mark.parametrize(
    ("run_type", "expected"),
    [("scheduled", "schedule"), ("manual", "manual"), ("backfill", "backfill"), ("other", "other")],
)
def test_a_run_no_event_started_says_how_it_was_started(run_type: str, expected: str) -> None:
    class DagRun:
        run_id = "r"

    DagRun.run_type = run_type  # type: ignore[attr-defined]
    run = RunInfo.from_airflow("f", {"dag_run": DagRun(), "triggering_asset_events": {}})
    assert (run.triggered_by, run.trigger_events) == (expected, 0)
