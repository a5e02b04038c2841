"""The monitor end to end: real PostgreSQL, a real webhook receiver and SMTP sink on loopback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import execute, make_spec, rows
from receivers import Received, SmtpSink, WebhookServer

from syncgate.observe.monitor import monitor
from syncgate.spec.alerts import Alerts, FlowDefaults

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "T0KEN-in-the-webhook-url"
PII = "alice.pii@example.com"
BASE = "http://airflow.test:8080"


@pytest.fixture
def alerting(databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Received, Alerts]]:
    received = Received()
    web, smtp = WebhookServer(received), SmtpSink(received)
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_WEBHOOK",
        json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{web.port}/hooks/{TOKEN}"}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_SMTP",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port,
                    "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 5,
                              "from_email": "syncgate@example.com"}}),
    )  # fmt: skip
    defaults = FlowDefaults.model_validate(
        {"alerts": {"notifiers": [{"type": "webhook", "conn_id": "alerts_webhook"},
                                  {"type": "email", "conn_id": "alerts_smtp", "to": ["oncall@example.com"]}],
                    "renotify_every": "1h", "consecutive_failures": 3,
                    "lag_spike": {"factor": 3, "window": 10, "min_runs": 5, "min_seconds": "30s"}}}
    ).alerts  # fmt: skip
    yield received, defaults
    web.close()
    smtp.close()


def fresh_spec() -> Any:
    return make_spec(freshness={"column": "updated_at", "max_age": "2h", "warn_age": "1h"})


def promoted_before(url: str) -> None:
    """The flow synced once, long ago: it is judged on its data, not given a first-sync grace."""
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    started = T0 - timedelta(days=3)
    execute(
        url,
        "INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, started_at, finished_at) "
        f"VALUES ('orders_flow', 'scheduled__first', 'scheduled', 'success', '{started.isoformat()}', "
        f"'{(started + timedelta(seconds=30)).isoformat()}')",
    )


def make_target(url: str, newest: datetime) -> None:
    """The target as an earlier sync left it."""
    promoted_before(url)
    execute(
        url,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.orders (id bigint PRIMARY KEY, status text, email text, updated_at timestamptz)",
        f"INSERT INTO analytics.orders VALUES (1, 'shipped', '{PII}', '{newest.isoformat()}'), "
        f"(2, 'pending', NULL, '{(newest - timedelta(hours=5)).isoformat()}')",
    )


def incidents(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT kind, severity, status, notify_count FROM syncgate.incidents ORDER BY id")


def assert_clean(received: Received, databases: dict[str, str]) -> None:
    for text in received.texts():
        assert databases["secret"] not in text and TOKEN not in text and PII not in text


def test_freshness_breach_notifies_once_renotifies_after_the_interval_and_recovers(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    spec = fresh_spec()
    make_target(databases["dst"], T0 - timedelta(hours=3))

    first = monitor([spec], defaults, now=T0, base_url=BASE)
    assert first.errors == [] and first.delivery_failures == []
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 1)]
    assert len(received.webhooks) == 1 and len(received.mails) == 1
    assert received.paths == [f"/hooks/{TOKEN}"]
    body = received.webhooks[0]
    assert set(body) == {"text", "blocks"} and body["blocks"][0]["type"] == "header"
    assert "ALERT orders_flow: data freshness (critical)" in body["text"]
    assert "data is 3h old, over its max_age of 2h" in body["text"]
    assert f"{BASE}/dags/orders_flow" in body["text"]
    mail = received.mails[0]
    assert mail["to"] == ["oncall@example.com"] and "ALERT orders_flow" in mail["subject"]
    assert "3h" in mail["html"] and "max_age" in mail["html"]
    recorded = rows(
        databases["dst"], "SELECT checked_by, status, lag_seconds, max_age_seconds FROM syncgate.freshness"
    )
    assert recorded == [("monitor", "breach", 3 * 3600.0, 7200.0)]

    monitor([spec], defaults, now=T0 + timedelta(minutes=10), base_url=BASE)  # within renotify_every
    assert len(received.webhooks) == 1 and len(received.mails) == 1
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 1)]

    monitor([spec], defaults, now=T0 + timedelta(hours=1, minutes=5), base_url=BASE)
    assert len(received.webhooks) == 2 and "STILL FIRING orders_flow" in received.webhooks[1]["text"]
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 2)]

    recovered_at = T0 + timedelta(hours=1, minutes=10)
    execute(
        databases["dst"],
        f"UPDATE analytics.orders SET updated_at = '{recovered_at.isoformat()}' WHERE id = 2",
    )
    monitor([spec], defaults, now=recovered_at + timedelta(minutes=1), base_url=BASE)
    assert incidents(databases["dst"]) == [("freshness", "critical", "resolved", 2)]
    assert len(received.webhooks) == 3 and len(received.mails) == 3
    assert "RESOLVED orders_flow" in received.webhooks[2]["text"]
    assert "recovered" in received.mails[2]["html"]
    statuses = rows(databases["dst"], "SELECT status FROM syncgate.freshness ORDER BY checked_at")
    assert [s for (s,) in statuses] == ["breach", "breach", "breach", "ok"]
    assert_clean(received, databases)


def test_warning_escalates_to_breach_at_once(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    spec = fresh_spec()
    make_target(databases["dst"], T0 - timedelta(minutes=90))
    monitor([spec], defaults, now=T0, base_url=BASE)
    assert incidents(databases["dst"]) == [("freshness", "warning", "open", 1)]
    monitor([spec], defaults, now=T0 + timedelta(minutes=40), base_url=BASE)  # 2h10m: breach
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 2)]
    assert "ESCALATED" in received.webhooks[-1]["text"]


def seed_runs(url: str, runs: list[dict[str, Any]]) -> None:
    """Audit rows, oldest first, one minute apart from T0 - len(runs) minutes."""
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    start = T0 - timedelta(minutes=10 * len(runs))
    for i, run in enumerate(runs):
        started = start + timedelta(minutes=10 * i)
        seconds = run.get("seconds", 30)
        execute(
            url,
            "INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, started_at, finished_at, "
            f"lag_seconds, error) VALUES ('orders_flow', '{run.get('run_id', f'scheduled__{i:03d}')}', 'scheduled', "
            f"'{run['status']}', '{started.isoformat()}', "
            + (
                "NULL"
                if run["status"] == "running"
                else f"'{(started + timedelta(seconds=seconds)).isoformat()}'"
            )
            + f", {run.get('lag', 'NULL')}, {run.get('error', 'NULL')})",
        )


def test_consecutive_failures_open_one_incident_and_recovery_resolves_it(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    spec = make_spec()  # no freshness SLA: only run-based rules
    pii_error = f"'promote: UniqueViolation: Key (email)=({PII}) already exists'"
    seed_runs(
        databases["dst"],
        [{"status": "success"}, {"status": "failed", "error": pii_error}, {"status": "rejected"},
         {"status": "failed", "error": pii_error, "run_id": "scheduled__2026-11-26T11:50:00+00:00"}],
    )  # fmt: skip
    monitor([spec], defaults, now=T0, base_url=BASE)
    assert incidents(databases["dst"]) == [("failures", "critical", "open", 1)]
    body = received.webhooks[0]["text"]
    assert "the last 3 runs failed or were rejected (alert at 3 in a row)" in body
    quoted = "scheduled__2026-11-26T11%3A50%3A00%2B00%3A00"
    assert f"{BASE}/dags/orders_flow/runs/{quoted}" in body
    assert f"{BASE}/syncgate/flows/orders_flow/runs/{quoted}/report" in body

    monitor([spec], defaults, now=T0 + timedelta(minutes=5), base_url=BASE)
    assert len(received.webhooks) == 1  # de-duplicated

    execute(
        databases["dst"],
        "INSERT INTO syncgate.sync_runs (flow_id, run_id, status, started_at, finished_at) "
        f"VALUES ('orders_flow', 'manual__fixed', 'success', '{T0.isoformat()}', '{(T0 + timedelta(seconds=20)).isoformat()}')",
    )
    monitor([spec], defaults, now=T0 + timedelta(minutes=6), base_url=BASE)
    assert incidents(databases["dst"]) == [("failures", "critical", "resolved", 1)]
    assert "RESOLVED orders_flow: consecutive failed runs" in received.webhooks[-1]["text"]
    assert len(received.mails) == 2
    assert_clean(received, databases)


def test_two_failures_stay_below_the_threshold(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    seed_runs(databases["dst"], [{"status": "success"}, {"status": "failed"}, {"status": "failed"}])
    monitor([make_spec()], defaults, now=T0, base_url=BASE)
    assert incidents(databases["dst"]) == [] and received.webhooks == []


def test_lag_and_duration_spikes_against_the_recent_median(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    history = [{"status": "success", "lag": 60 + i, "seconds": 30 + i} for i in range(8)]
    seed_runs(databases["dst"], [*history, {"status": "success", "lag": 900, "seconds": 400}])
    monitor([make_spec()], defaults, now=T0, base_url=BASE)
    assert sorted(incidents(databases["dst"])) == [
        ("duration_spike", "warning", "open", 1), ("lag_spike", "warning", "open", 1),
    ]  # fmt: skip
    texts = "\n".join(w["text"] for w in received.webhooks)
    assert "run took 6m 40s, 11.9x its median of 34s over 8 runs (alert above 3x)" in texts
    assert "lag after the last run was 15m, 14.2x its median of 1m 4s over 8 runs" in texts


def test_no_history_is_no_spike(databases: dict[str, str], alerting: tuple[Received, Alerts]) -> None:
    received, defaults = alerting
    seed_runs(databases["dst"], [{"status": "success", "lag": 60}] * 0 + [
        {"status": "success", "lag": 60, "run_id": f"r{i}"} for i in range(3)] + [
        {"status": "success", "lag": 6000, "run_id": "r9"}])  # fmt: skip
    monitor([make_spec()], defaults, now=T0, base_url=BASE)  # 3 runs < min_runs 5
    assert incidents(databases["dst"]) == []


def test_a_stuck_run_is_a_duration_spike(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, defaults = alerting
    seed_runs(
        databases["dst"], [*({"status": "success", "seconds": 40} for _ in range(6)), {"status": "running"}]
    )
    monitor([make_spec()], defaults, now=T0 + timedelta(minutes=30), base_url=BASE)
    assert incidents(databases["dst"]) == [("duration_spike", "warning", "open", 1)]
    assert "run has been running for 40m" in received.webhooks[0]["text"]


def test_a_missing_target_is_a_breach_and_a_dead_channel_is_retried(
    databases: dict[str, str], alerting: tuple[Received, Alerts], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, defaults = alerting
    working = {k: os.environ[k] for k in ("AIRFLOW_CONN_ALERTS_WEBHOOK", "AIRFLOW_CONN_ALERTS_SMTP")}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SMTP", json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": 9,
                       "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 2}}))  # fmt: skip
    spec = fresh_spec()
    promoted_before(databases["dst"])  # then someone dropped the target
    result = monitor([spec], defaults, now=T0, base_url=BASE)
    assert result.delivery_failures and all(
        "ConnectionError" in f or "Error" in f for f in result.delivery_failures
    )
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 0)]
    assert rows(databases["dst"], "SELECT status FROM syncgate.freshness") == [("unknown",)]
    details = rows(databases["dst"], "SELECT details->>'reason' FROM syncgate.incidents")
    assert details == [("target table analytics.orders does not exist",)]
    assert received.webhooks == []
    for key, value in working.items():  # the channel is back: the undelivered notice goes out
        monkeypatch.setenv(key, value)
    monitor([spec], defaults, now=T0 + timedelta(minutes=5), base_url=BASE)
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 1)]
    assert (
        len(received.webhooks) == 1
        and "freshness unknown: target table analytics.orders does not exist"
        in (received.webhooks[0]["text"])
    )


def test_old_freshness_history_is_pruned(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    _, defaults = alerting
    make_target(databases["dst"], T0 - timedelta(minutes=5))
    seed_runs(databases["dst"], [])  # creates the state schema
    for days in (40, 29):
        execute(
            databases["dst"],
            "INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, status) "
            f"VALUES ('orders_flow', '{(T0 - timedelta(days=days)).isoformat()}', 'monitor', 'ok')",
        )
    monitor([fresh_spec()], defaults, now=T0, base_url=BASE)  # keeps 30 days by default
    kept = rows(databases["dst"], "SELECT checked_at FROM syncgate.freshness ORDER BY checked_at")
    assert [c for (c,) in kept] == [T0 - timedelta(days=29), T0]


def test_without_notifiers_incidents_are_recorded_but_nobody_is_counted_as_told(
    databases: dict[str, str], alerting: tuple[Received, Alerts]
) -> None:
    received, _ = alerting
    make_target(databases["dst"], T0 - timedelta(hours=3))
    result = monitor([fresh_spec()], Alerts(), now=T0, base_url=BASE)
    assert incidents(databases["dst"]) == [("freshness", "critical", "open", 0)]
    assert result.notices == [
        {"flow_id": "orders_flow", "kind": "freshness", "event": "opened", "severity": "critical",
         "delivered": False, "notifiers": 0}
    ]  # fmt: skip
    assert received.webhooks == [] and received.mails == [] and result.delivery_failures == []
