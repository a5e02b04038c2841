"""The monitor's retained-WAL rule against real slots: a paused wal flow and an orphaned slot alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import ORDERS_DDL, execute, make_spec, rows, sync

from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.observe.monitor import monitor
from syncgate.spec.alerts import Alerts

pytestmark = pytest.mark.integration


def open_incidents(dst: str) -> dict[str, str]:
    return dict(
        rows(
            dst,
            "SELECT flow_id, summary FROM syncgate.incidents WHERE kind = 'retained_wal' AND status = 'open'",
        )
    )


def test_a_paused_wal_flow_and_an_orphaned_slot_raise_retained_wal_incidents(
    databases: dict[str, str],
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, ORDERS_DDL, "INSERT INTO public.orders VALUES (1, 'P', 1, NULL, NULL, now())")
    spec = make_spec(source__cursor=None, source__capture="wal")
    gone = make_spec(id="gone_flow", source__cursor=None, source__capture="wal")
    setup_flow(spec)
    setup_flow(gone)  # its spec is deleted below: the slot stays behind
    try:
        sync(spec)
        alerts = Alerts.model_validate({"retained_wal": {"max_bytes": "1GiB", "max_age": "1h"}})
        quiet = monitor([spec], alerts, base_url="")
        assert "orders_flow" not in open_incidents(dst)  # nothing waits: no alert
        execute(
            src, "UPDATE public.orders SET note = 'waiting' WHERE id = 1"
        )  # the DAG is paused: nobody reads it
        later = datetime.now(UTC) + timedelta(hours=2)
        monitor([spec], alerts, now=later, base_url="")
        found = open_incidents(dst)
        assert "has had a change waiting for 2h" in found["orders_flow"]
        assert "no flow uses it" in found["gone_flow"] and "syncgate_gone_flow" in found["gone_flow"]
        assert not quiet.errors
        sync(spec)  # the flow runs again: its incident resolves
        monitor([spec], alerts, now=later, base_url="")
        assert "orders_flow" not in open_incidents(dst)
    finally:
        drop_flow(spec)
        drop_flow(gone)


def test_retained_bytes_over_the_threshold_alert(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, ORDERS_DDL)
    spec = make_spec(source__cursor=None, source__capture="wal")
    setup_flow(spec)
    try:
        sync(spec)
        execute(
            src,
            "INSERT INTO public.orders SELECT g, 'P', g, repeat('x', 200), NULL, now() FROM generate_series(1, 2000) g",
        )
        monitor([spec], Alerts.model_validate({"retained_wal": {"max_bytes": "64KiB"}}), base_url="")
        assert "of WAL (alert above 64.0 KiB)" in open_incidents(dst)["orders_flow"]
    finally:
        drop_flow(spec)
