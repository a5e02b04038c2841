"""The flow page's Triggers section: trigger rows from the spec, the wal slot line."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from syncgate.ui.triggers import is_wal_flow, slot_view, trigger_rows

pytestmark = pytest.mark.unit


def _spec(*triggers: object, capture: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        id="orders", triggers=list(triggers), source=SimpleNamespace(conn_id="src_db", capture=capture)
    )


def test_each_trigger_is_listed_with_names_never_secrets() -> None:
    rows = trigger_rows(
        _spec(
            {"type": "webhook", "secret_conn_id": "crm_webhook"},
            SimpleNamespace(
                type="postgres_notify", channel="erp_orders", conn_id=None, side=None, secret_conn_id=None
            ),
            {"type": "wal"},
        )
    )
    assert [(r.type, r.detail, r.receiver) for r in rows] == [
        ("webhook", "secret connection crm_webhook", "/webhooks/orders"),
        ("postgres_notify", "LISTEN erp_orders on the source's connection", None),
        ("wal", "pending changes in the flow's replication slot", None),
    ]
    assert (
        trigger_rows(_spec({"type": "postgres_notify", "channel": "c", "side": "crm"}))[0].detail
        == "LISTEN c on crm"
    )
    assert trigger_rows(SimpleNamespace(id="x")) == []


def test_a_flow_is_a_wal_flow_by_its_capture_or_its_trigger() -> None:
    assert is_wal_flow(_spec(capture="wal")) and is_wal_flow(_spec({"type": "wal"}))
    assert not is_wal_flow(_spec({"type": "webhook", "secret_conn_id": "c"}, capture="cursor"))
    assert slot_view(_spec({"type": "webhook", "secret_conn_id": "c"})) is None


def test_without_wal_capture_in_the_build_the_slot_line_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "syncgate.connectors.postgres.cdc.status", None)  # import fails
    view = slot_view(_spec(capture="wal"))
    assert view is not None and view.error == "slot status is not available in this build"


def test_an_unreachable_source_blanks_only_the_slot_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SRC_DB", "postgresql://syncgate@127.0.0.1:1/nowhere")
    view = slot_view(_spec(capture="wal"))
    assert view is not None and view.error == "source database 'src_db' could not be read"
