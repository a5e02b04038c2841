"""Merging a flow's alert settings over the defaults: found in review, now fixed."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.unit


def _spec(alerts: dict[str, Any]) -> Any:
    from syncgate.spec.model import FlowSpec

    return FlowSpec.model_validate(
        {
            "id": "orders_flow",
            "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders",
                       "primary_key": ["id"], "cursor": "updated_at"},
            "target": {"type": "postgres", "conn_id": "dst_db", "table": "analytics.orders"},
            "alerts": alerts,
        }
    )  # fmt: skip


def test_a_flow_lag_spike_window_below_the_default_min_runs_breaks_the_monitor_of_every_flow() -> None:
    """Defect: ``spec/alerts.py`` ``resolve_alerts`` merges a flow's ``lag_spike`` keys over the
    defaults and re-validates; ``window: 3`` (valid in the flow's spec, which loads and becomes a
    DAG) with the shipped default ``min_runs: 5`` raises ``ValidationError`` inside
    ``monitor()`` (monitor.py:92, before any database), so the monitor DAG fails on every tick
    and no flow is judged or alerted."""
    from pydantic import ValidationError

    from syncgate.observe.monitor import monitor
    from syncgate.spec.alerts import FlowDefaults

    defaults = FlowDefaults.model_validate(
        {"alerts": {"lag_spike": {"factor": 3, "window": 20, "min_runs": 5, "min_seconds": "1m"}}}
    ).alerts
    spec = _spec({"lag_spike": {"window": 3}})  # loads cleanly
    try:
        monitor([spec], defaults, base_url="")
    except ValidationError as exc:
        pytest.fail(f"a spec that loads cleanly crashes the monitor for all flows: {exc.errors()[0]['msg']}")
    except Exception:  # noqa: BLE001, S110 - no database here: only the ValidationError matters
        pass
