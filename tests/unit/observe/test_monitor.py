"""The monitor resolves every flow's alert policy before it opens any database.

The database parts (freshness probes, incidents, notices) run against PostgreSQL in
tests/integration/test_alerts.py and tests/integration/test_observe_edge_cases.py.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from syncgate.spec.alerts import FlowDefaults

pytestmark = pytest.mark.unit

SHIPPED_LIKE = FlowDefaults.model_validate(
    {"alerts": {"lag_spike": {"factor": 3, "window": 20, "min_runs": 5, "min_seconds": "1m"}}}
).alerts


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


def test_the_monitor_resolves_a_small_flow_window_and_goes_on_to_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The policy is resolved before any database is opened: the only error the monitor reports
    is the (deliberately unreachable) state database, not an invalid merged policy."""
    from syncgate.observe.monitor import monitor

    with socket.socket() as probe:  # a loopback port nobody listens on: connecting is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_DST_DB", f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    spec = _spec({"lag_spike": {"window": 3}})

    result = monitor([spec], SHIPPED_LIKE, base_url="")

    assert result.flows == 1 and result.databases == 1
    assert len(result.errors) == 1 and result.errors[0].startswith("database 'dst_db': RetriableError:")
    assert result.notices == []
