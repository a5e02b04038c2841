"""The monitor DAG, run by ``dag.test()``: it catches a flow whose own DAG never ran."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import execute, flows_dag_bag, rows, seed_orders
from receivers import Received, WebhookServer

pytestmark = pytest.mark.integration


FLOW = """
id: {id}
schedule: "0 * * * *"
source: {{type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], cursor: updated_at}}
target: {{type: postgres, conn_id: dst_db, table: analytics.{id}}}
freshness: {{column: updated_at, max_age: 1h}}
"""

DEFAULTS = """
alerts:
  notifiers: [{type: webhook, conn_id: alerts_webhook}]
  renotify_every: 30m
"""


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Received]:
    received = Received()
    server = WebhookServer(received)
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_WEBHOOK",
        json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{server.port}/"}),
    )
    yield received
    server.close()


def test_monitor_dag_catches_a_flow_that_never_ran(
    databases: dict[str, str],
    airflow_db: Path,
    webhook: Received,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from syncgate.observe.monitor_dag import MONITOR_DAG_ID

    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "_defaults.yml").write_text(DEFAULTS)
    for flow_id in ("paused_flow", "fresh_flow"):
        (flows / f"{flow_id}.yml").write_text(textwrap.dedent(FLOW.format(id=flow_id)))
    # Data loaded long ago (the flow's DAG is paused and never ran here) and data loaded just now.
    execute(
        databases["dst"],
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.paused_flow (id int PRIMARY KEY, updated_at timestamptz)",
        "INSERT INTO analytics.paused_flow VALUES (1, now() - interval '5 hours')",
        "CREATE TABLE analytics.fresh_flow (id int PRIMARY KEY, updated_at timestamptz)",
        "INSERT INTO analytics.fresh_flow VALUES (1, now() - interval '5 minutes')",
    )
    # The monitor has known paused_flow for 5 hours: its first-sync grace (max_age 1h) is over.
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)
    execute(
        databases["dst"],
        "INSERT INTO syncgate.flow_first_seen VALUES ('paused_flow', now() - interval '5 hours', 'monitor')",
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.test:8080/")
    bag = flows_dag_bag(monkeypatch, flows)
    assert sorted(bag.dag_ids) == ["fresh_flow", "paused_flow", MONITOR_DAG_ID]

    dag_run = bag.dags[MONITOR_DAG_ID].test()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    assert rows(databases["dst"], "SELECT flow_id, checked_by, status FROM syncgate.freshness ORDER BY flow_id") == [
        ("fresh_flow", "monitor", "ok"), ("paused_flow", "monitor", "breach"),
    ]  # fmt: skip
    assert rows(databases["dst"], "SELECT flow_id, kind, status FROM syncgate.incidents") == [
        ("paused_flow", "freshness", "open")
    ]
    [alert] = webhook.webhooks
    assert "ALERT paused_flow: data freshness (critical)" in alert["text"]
    assert "never synced: no run has promoted since the flow appeared 5h" in alert["text"]
    # 5h, or 5h 1m on a machine slow enough for a minute to pass before the monitor measures.
    assert re.search(r"data is 5h( \d+m)? old, over its max_age of 1h", alert["text"]), alert["text"]
    assert "http://airflow.test:8080/dags/paused_flow" in alert["text"]

    again = bag.dags[MONITOR_DAG_ID].test()  # within renotify_every: recorded, not re-sent
    assert str(getattr(again.state, "value", again.state)) == "success"
    assert len(webhook.webhooks) == 1
    assert rows(databases["dst"], "SELECT count(*) FROM syncgate.freshness") == [(4,)]


def test_a_failed_flow_run_alerts_at_once_from_its_failure_callback(
    databases: dict[str, str],
    airflow_db: Path,
    webhook: Received,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "_defaults.yml").write_text(DEFAULTS)
    seed_orders(databases["src"], 20)  # notes such as 'n1' cannot load into the declared integer
    spec = textwrap.dedent(FLOW.format(id="broken_flow")).replace(
        "freshness: {column: updated_at, max_age: 1h}\n", ""
    )
    (flows / "broken_flow.yml").write_text(
        spec + "retries: 0\ntransform: {cast: {note: integer}}\nalerts: {consecutive_failures: 1}\n"
    )
    dag_run = flows_dag_bag(monkeypatch, flows).dags["broken_flow"].test()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    assert rows(databases["dst"], "SELECT status FROM syncgate.sync_runs") == [("failed",)]
    assert rows(databases["dst"], "SELECT flow_id, kind, status FROM syncgate.incidents") == [
        ("broken_flow", "failures", "open")
    ]
    [alert] = webhook.webhooks
    assert "ALERT broken_flow: consecutive failed runs" in alert["text"]
    assert "the last run failed or was rejected (alert at 1 in a row)" in alert["text"]
    error = rows(databases["dst"], "SELECT error FROM syncgate.sync_runs")[0][0]
    assert "note" in error and "note" not in json.dumps(alert)  # error texts never travel in alerts
