"""Identity of one flow run, independent of Airflow so stages can be tested on their own."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """Which run this is, and for backfills, the data interval it re-syncs."""

    flow_id: str
    run_id: str
    run_type: str = "manual"  # manual | scheduled | backfill | asset_triggered | ...
    interval_start: datetime | None = None
    interval_end: datetime | None = None

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
        run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
        return cls(
            flow_id=flow_id,
            run_id=dag_run.run_id,
            run_type=str(run_type),
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
        )
