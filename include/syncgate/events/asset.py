"""A flow's event asset: one Asset whose watchers run the flow's triggers, and its DAG schedule.

The flow's DAG is scheduled on the asset (or on asset-or-time when it also has a ``schedule``,
which stays the reconciliation poll). A one-way flow runs up to two runs at once
(``dag_factory.EVENT_RUNS_IN_FLIGHT``): an event that arrives while one run works starts the
next at once; Airflow queues the events that arrive while both work and starts one run from
them when a run ends. An event is never lost to a running run, and several become one run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.spec.triggers import PostgresNotifyTrigger, WalTrigger, WebhookTrigger, notify_connection

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from syncgate.spec.model import FlowSpec
    from syncgate.spec.sync_model import SyncSpec


def asset_name(flow_id: str) -> str:
    return f"syncgate_events__{flow_id}"


def asset_uri(flow_id: str) -> str:
    return f"syncgate://events/{flow_id}"


def event_asset(spec: FlowSpec | SyncSpec) -> Asset | None:
    """The asset the flow's triggers fire, or None for a flow without triggers."""
    if not spec.triggers:
        return None
    from airflow.sdk import Asset, AssetWatcher

    watchers = [
        AssetWatcher(name=f"{spec.id}__{trigger.type}", trigger=event_trigger(spec, trigger))
        for trigger in spec.triggers
    ]
    return Asset(name=asset_name(spec.id), uri=asset_uri(spec.id), group="syncgate", watchers=watchers)


def event_trigger(spec: FlowSpec | SyncSpec, trigger: Any) -> Any:
    """The ``BaseEventTrigger`` of one spec trigger; its kwargs are plain JSON values."""
    from syncgate.events.triggers import (
        PostgresNotifyEventTrigger,
        WalPendingEventTrigger,
        WebhookEventTrigger,
    )

    common: dict[str, Any] = {
        "flow_id": spec.id,
        "state_conn_id": str(spec.state_conn_id),
        "debounce": spec.debounce.total_seconds(),
    }
    if isinstance(trigger, WebhookTrigger):
        return WebhookEventTrigger(**common)
    if isinstance(trigger, PostgresNotifyTrigger):
        return PostgresNotifyEventTrigger(
            **common, conn_id=notify_connection(spec, trigger), channel=trigger.channel
        )
    if isinstance(trigger, WalTrigger):
        if trigger.side is None:
            source, capture_id = spec.source, spec.id  # type: ignore[union-attr]
        else:
            source, capture_id = spec.side(trigger.side).source, f"{spec.id}__{trigger.side}"  # type: ignore[union-attr]
        return WalPendingEventTrigger(**common, conn_id=str(source.conn_id), capture_id=capture_id)
    raise TypeError(f"not a trigger spec: {type(trigger).__name__}")


def schedule(spec: FlowSpec | SyncSpec) -> Any:
    """The DAG's schedule: cron, the event asset, both (asset-or-time), or None (manual only).

    Data-interval timetables give backfills a real [start, end) to re-sync.
    """
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    cron = CronDataIntervalTimetable(spec.schedule, timezone="UTC") if spec.schedule else None
    asset = event_asset(spec)
    if asset is None:
        return cron
    if cron is None:
        return asset
    return AssetOrTimeSchedule(timetable=cron, assets=asset)
