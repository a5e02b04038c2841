"""Flows with triggers: scheduled on their event asset (or asset-or-time with a `schedule`), the
asset's watchers run syncgate's triggers, and the DAG serializes with stable trigger kwargs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncgate.dag_factory import build_dags

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "dags" / "flows"


def write_flows(folder: Path, **changes: dict[str, Any]) -> Path:
    """Shipped specs (by file stem) with top-level keys changed (None removes a key)."""
    for stem, change in changes.items():
        raw = yaml.safe_load((FLOWS / f"{stem}.yml").read_text())
        raw.update(change)
        raw = {k: v for k, v in raw.items() if v is not None}
        if "quality" in raw and "suite" in raw["quality"]:
            raw["quality"] = {**raw["quality"], "suite": str(FLOWS / raw["quality"]["suite"])}
        (folder / f"{stem}.yml").write_text(yaml.safe_dump(raw))
    return folder


NOTIFY = {"type": "postgres_notify", "channel": "erp_orders"}
WEBHOOK = {"type": "webhook", "secret_conn_id": "crm_webhook"}


def test_a_flow_with_triggers_only_is_scheduled_on_its_event_asset(tmp_path: Path) -> None:
    from airflow.sdk import Asset

    dags = build_dags(write_flows(tmp_path, erp_orders={"schedule": None, "triggers": [NOTIFY, WEBHOOK]}))
    dag = dags["erp_orders"]
    asset = dag.timetable.asset_condition
    assert isinstance(asset, Asset)
    assert (asset.name, asset.uri, asset.group) == (
        "syncgate_events__erp_orders",
        "syncgate://events/erp_orders",
        "syncgate",
    )
    assert [w.name for w in asset.watchers] == ["erp_orders__postgres_notify", "erp_orders__webhook"]
    notify, webhook = (w.trigger.serialize() for w in asset.watchers)
    assert notify == (
        "syncgate.events.triggers.PostgresNotifyEventTrigger",
        {"flow_id": "erp_orders", "state_conn_id": "warehouse_db", "debounce": 2.0, "conn_id": "erp_db",
         "channel": "erp_orders"},
    )  # fmt: skip
    assert webhook == (
        "syncgate.events.triggers.WebhookEventTrigger",
        {"flow_id": "erp_orders", "state_conn_id": "warehouse_db", "debounce": 2.0},
    )


def test_triggers_and_a_schedule_make_an_asset_or_time_schedule(tmp_path: Path) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    dags = build_dags(write_flows(tmp_path, erp_orders={"schedule": "*/15 * * * *", "triggers": [NOTIFY]}))
    timetable = dags["erp_orders"].timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    assert isinstance(timetable.timetable, CronDataIntervalTimetable)
    assert timetable.asset_condition.name == "syncgate_events__erp_orders"


def test_a_flow_without_triggers_keeps_its_cron_schedule(tmp_path: Path) -> None:
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.definitions.timetables.simple import NullTimetable

    dags = build_dags(write_flows(tmp_path, erp_orders={"schedule": "*/15 * * * *"}))
    assert isinstance(dags["erp_orders"].timetable, CronDataIntervalTimetable)
    unscheduled = build_dags(write_flows(tmp_path, erp_orders={"schedule": None}))["erp_orders"]
    assert isinstance(unscheduled.timetable, NullTimetable)


def test_a_sync_flow_is_scheduled_on_its_event_asset(tmp_path: Path) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    notify = {"type": "postgres_notify", "channel": "partners", "side": "erp"}
    dags = build_dags(
        write_flows(tmp_path, erp_crm_customers_two_way={"triggers": [notify], "debounce": "0"})
    )
    timetable = dags["erp_crm_customers_two_way"].timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    (watcher,) = timetable.asset_condition.watchers
    assert watcher.trigger.serialize()[1] == {
        "flow_id": "erp_crm_customers_two_way", "state_conn_id": "warehouse_db", "debounce": 0.0,
        "conn_id": "erp_db", "channel": "partners",
    }  # fmt: skip


def test_the_dag_serializes_with_its_watchers_and_stable_trigger_hashes(tmp_path: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.triggers.base import BaseEventTrigger

    folder = write_flows(tmp_path, erp_orders={"triggers": [NOTIFY, WEBHOOK], "debounce": "500ms"})
    first, second = build_dags(folder)["erp_orders"], build_dags(folder)["erp_orders"]
    encoded = json.dumps(DagSerialization.to_dict(first))  # what the DAG processor stores
    assert "PostgresNotifyEventTrigger" in encoded and "WebhookEventTrigger" in encoded
    restored = DagSerialization.from_dict(json.loads(encoded))
    assert restored.dag_id == "erp_orders"

    def hashes(dag: Any) -> list[int]:
        return [BaseEventTrigger.hash(*w.trigger.serialize()) for w in dag.timetable.asset_condition.watchers]

    # A re-parse must not look like a changed trigger: Airflow would re-create the watcher.
    assert hashes(first) == hashes(second)
    for watcher in first.timetable.asset_condition.watchers:
        json.dumps(watcher.trigger.serialize()[1])  # plain JSON values


def test_event_driven_one_way_flows_run_two_at_once_and_the_rest_one(tmp_path: Path) -> None:
    """Two runs in flight only where a newer run writing the older one's rows again is harmless."""
    dags = build_dags(
        write_flows(
            tmp_path,
            erp_orders={"triggers": [NOTIFY]},  # merge into a keyed target
            erp_products={"schedule": "@hourly", "triggers": None},
        )
    )
    assert dags["erp_orders"].max_active_runs == 2
    assert dags["erp_products"].max_active_runs == 1
    raw = yaml.safe_load((FLOWS / "erp_orders.yml").read_text())
    keyless_append = {
        "triggers": [NOTIFY],
        "source": {**raw["source"], "primary_key": None, "deletes": None},
        "target": {**raw["target"], "write": "append"},
    }
    keyless_append["source"] = {k: v for k, v in keyless_append["source"].items() if v is not None}
    folder = tmp_path / "append"
    folder.mkdir()
    dags = build_dags(write_flows(folder, erp_orders=keyless_append))
    assert dags["erp_orders"].max_active_runs == 1, "an append without a key would insert rows twice"
    http = tmp_path / "http"
    http.mkdir()
    dags = build_dags(write_flows(http, erp_accounts_to_crm={"triggers": [NOTIFY]}))
    assert dags["erp_accounts_to_crm"].max_active_runs == 1, "an API target is written call by call"
