"""Flows with triggers still run under ``dag.test()`` (which ignores the schedule), and their
audit row says how the run was started."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import audit, execute, flows_dag_bag, seed_orders, task_states

pytestmark = pytest.mark.integration

ONE_WAY = """
id: triggered_orders
schedule: "*/30 * * * *"
retries: 0
triggers:
  - {type: postgres_notify, channel: orders_changed}
  - {type: webhook, secret_conn_id: orders_webhook}
debounce: 1s
source: {type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], cursor: updated_at}
target: {type: postgres, conn_id: dst_db, table: analytics.orders}
"""

TWO_WAY = """
id: triggered_two_way
mode: two_way
retries: 0
triggers:
  - {type: postgres_notify, channel: people_changed, side: a}
sides:
  a: {type: postgres, conn_id: src_db, table: public.people, primary_key: [id], cursor: updated_at}
  b: {type: postgres, conn_id: dst_db, table: public.people, primary_key: [id], cursor: updated_at}
"""

PEOPLE = """
CREATE TABLE public.people (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
"""


def test_a_triggered_one_way_flow_runs_under_dag_test_and_records_a_manual_start(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed_orders(databases["src"], 25)
    (tmp_path / "triggered_orders.yml").write_text(textwrap.dedent(ONE_WAY))
    dag = flows_dag_bag(monkeypatch, tmp_path).dags["triggered_orders"]
    assert dag.timetable.asset_condition.name == "syncgate_events__triggered_orders"
    run = dag.test()
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    record = audit(databases["dst"], run.run_id, "triggered_orders")
    assert (record["status"], record["rows_extracted"]) == ("success", 25)
    assert (record["triggered_by"], record["trigger_events"]) == ("manual", 0)


def test_a_triggered_sync_flow_runs_under_dag_test_and_records_a_manual_start(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    execute(databases["src"], PEOPLE, "INSERT INTO public.people (id, name) VALUES (1, 'Ada'), (2, 'Bo')")
    execute(databases["dst"], PEOPLE, "INSERT INTO public.people (id, name) VALUES (3, 'Cy')")
    (tmp_path / "triggered_two_way.yml").write_text(textwrap.dedent(TWO_WAY))
    dag = flows_dag_bag(monkeypatch, tmp_path).dags["triggered_two_way"]
    assert [w.name for w in dag.timetable.asset_condition.watchers] == ["triggered_two_way__postgres_notify"]
    run = dag.test()
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    record = audit(databases["src"], run.run_id, "triggered_two_way")  # side a holds the state
    assert (record["triggered_by"], record["trigger_events"]) == ("manual", 0)


def test_a_run_failing_before_its_audit_row_records_how_it_was_started(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No source table: extract fails before writing the audit row; the failure callback writes it.
    (tmp_path / "triggered_orders.yml").write_text(textwrap.dedent(ONE_WAY))
    run = flows_dag_bag(monkeypatch, tmp_path).dags["triggered_orders"].test()
    assert task_states(run)["extract"] == "failed"
    record = audit(databases["dst"], run.run_id, "triggered_orders")
    assert record["status"] == "failed" and record["error"].startswith("extract:")
    assert (record["triggered_by"], record["trigger_events"]) == ("manual", 0)
