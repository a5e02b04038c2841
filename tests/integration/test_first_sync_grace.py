"""A fresh install raises no false alerts: a flow that never promoted is pending first sync until
its grace has passed since syncgate first saw it; after that it is an incident that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import REPO, execute, make_spec, rows, seed_orders, sync

from syncgate.observe.monitor import monitor, run_monitor
from syncgate.spec.alerts import Alerts

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEMO_FLOWS = REPO / "dags" / "flows"


def open_incidents(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT flow_id, kind, severity, summary FROM syncgate.incidents WHERE status = 'open' "
                     "ORDER BY flow_id, kind")  # fmt: skip


def test_a_new_flow_is_pending_until_its_grace_then_an_incident_until_it_syncs(
    databases: dict[str, str],
) -> None:
    spec = make_spec(freshness={"column": "updated_at", "max_age": "2h"})
    dst = databases["dst"]

    # The monitor's first tick, moments after the flow appeared: its target does not exist yet.
    result = monitor([spec], Alerts(), now=T0, base_url="")
    assert result.errors == [] and result.open_incidents == 0 and open_incidents(dst) == []
    assert rows(dst, "SELECT flow_id, first_seen_at, seen_by FROM syncgate.flow_first_seen") == [
        ("orders_flow", T0, "monitor")
    ]
    # Later ticks keep the first sighting; still inside the grace (max_age 2h) nothing opens.
    monitor([spec], Alerts(), now=T0 + timedelta(hours=1, minutes=59), base_url="")
    assert open_incidents(dst) == []
    assert rows(dst, "SELECT first_seen_at FROM syncgate.flow_first_seen") == [(T0,)]

    # Past the grace without one promoted run: a critical incident that says why.
    monitor([spec], Alerts(), now=T0 + timedelta(hours=2, minutes=5), base_url="")
    assert open_incidents(dst) == [(
        "orders_flow", "freshness", "critical",
        "never synced: no run has promoted since the flow appeared 2h 5m ago (first-sync grace 2h); "
        "target table analytics.orders does not exist",
    )]  # fmt: skip

    # Its first sync promotes fresh rows: the incident resolves at the next tick.
    seed_orders(databases["src"], 20, stamp=(T0 + timedelta(hours=2)).isoformat())
    sync(spec)
    monitor([spec], Alerts(), now=T0 + timedelta(hours=2, minutes=10), base_url="")
    assert open_incidents(dst) == []


def test_a_configured_grace_and_no_grace(databases: dict[str, str]) -> None:
    spec = make_spec(freshness={"column": "updated_at", "max_age": "1d"})
    short = Alerts.model_validate({"first_sync_grace": "10m"})
    monitor([spec], short, now=T0, base_url="")
    monitor([spec], short, now=T0 + timedelta(minutes=9), base_url="")
    assert open_incidents(databases["dst"]) == []
    monitor([spec], short, now=T0 + timedelta(minutes=11), base_url="")
    assert [kind for _, kind, *_ in open_incidents(databases["dst"])] == ["freshness"]

    other = make_spec(id="other_flow", freshness={"column": "updated_at", "max_age": "1d"})
    monitor([other], Alerts.model_validate({"first_sync_grace": "0s"}), now=T0, base_url="")
    assert [f for f, *_ in open_incidents(databases["dst"])] == ["orders_flow", "other_flow"]


def test_the_demo_first_start_opens_no_incident(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's flows, their databases as `make demo` prepares them before Airflow starts (ERP
    tables, the wal flow's slot; an empty warehouse), the monitor ticking before any first run
    finished: nothing opens. A day later, the four flows with a freshness SLA that still never
    synced are incidents (issue 14 counted exactly those four as false alarms on a first start)."""
    from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
    from syncgate.spec.loader import load_specs

    monkeypatch.setenv("AIRFLOW_CONN_ERP_DB", databases["src"])
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", databases["dst"])
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", '{"conn_type": "http", "host": "127.0.0.1", "port": 9}')
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(DEMO_FLOWS))
    execute(databases["src"], (REPO / "include" / "demo" / "erp_schema.sql").read_text())
    specs = {item.spec.id: item.spec for item in load_specs(DEMO_FLOWS) if item.spec is not None}
    wal = [s for s in specs.values() if getattr(getattr(s, "source", None), "capture", None) == "wal"]
    assert wal, "the demo has a wal flow: its slot is part of the first start"
    for spec in wal:
        setup_flow(spec)  # the demo runs `cdc setup` before starting Airflow
    try:
        now = datetime.now(UTC)
        result = run_monitor(DEMO_FLOWS, now=now)
        assert result.flows == len(specs) and result.errors == []
        assert open_incidents(databases["dst"]) == [] and result.notices == []

        later = run_monitor(DEMO_FLOWS, now=now + timedelta(days=1, minutes=1))
        with_sla = sorted(i for i, s in specs.items() if s.freshness is not None)
        assert len(with_sla) == 4
        opened = open_incidents(databases["dst"])
        assert [(f, k) for f, k, *_ in opened] == [(i, "freshness") for i in with_sla]
        assert all(summary.startswith("never synced: ") for *_, summary in opened)
        assert later.open_incidents == 4
    finally:
        for spec in wal:
            drop_flow(spec)
