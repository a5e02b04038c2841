"""Identity of one flow run, independent of Airflow so stages can be tested on their own."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# How a run that no event started was started, by Airflow run type.
_STARTED_BY = {"scheduled": "schedule", "manual": "manual", "backfill": "backfill"}


@dataclass(frozen=True)
class RunInfo:
    """Which run this is, and for backfills, the data interval it re-syncs."""

    flow_id: str
    run_id: str
    run_type: str = "manual"  # manual | scheduled | backfill | asset_triggered | ...
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    # What started the run: the event triggers joined (``wal+webhook``), or schedule / manual /
    # backfill; and how many events the run covers (0 when no event started it).
    triggered_by: str | None = None
    trigger_events: int = 0

    @property
    def is_backfill(self) -> bool:
        return self.run_type == "backfill"

    @property
    def key(self) -> str:
        """Short, stable, identifier-safe token for this run (staging table suffix)."""
        return hashlib.sha1(f"{self.flow_id}/{self.run_id}".encode()).hexdigest()[:12]

    @classmethod
    def from_airflow(cls, flow_id: str, context: Any) -> RunInfo:
        dag_run = context["dag_run"]
        run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
        triggered_by, events = triggered(run_type, context.get("triggering_asset_events"))
        return cls(
            flow_id=flow_id,
            run_id=dag_run.run_id,
            run_type=run_type,
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
            triggered_by=triggered_by,
            trigger_events=events,
        )


def triggered(run_type: str, asset_events: Any) -> tuple[str, int]:
    """What started a run and how many events it covers.

    An asset-triggered run sums its triggering events' payloads (``events/triggers.py``: one
    event stands for ``events`` coalesced signals); an event without that payload (posted to
    Airflow's REST API, say) counts once as ``asset``.
    """
    if run_type != "asset_triggered":
        return _STARTED_BY.get(run_type, run_type), 0
    kinds: set[str] = set()
    total = 0
    for events in (asset_events or {}).values():
        for event in events:
            payload = (getattr(event, "extra", None) or {}).get("payload")
            payload = payload if isinstance(payload, dict) else {}
            kinds.add(str(payload.get("trigger") or "asset"))
            count = payload.get("events")
            total += count if isinstance(count, int) and count > 0 else 1
    return "+".join(sorted(kinds)) or "asset", total
