"""Slot and publication names: stable, sanitised, within PostgreSQL's 63 bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncgate.connectors.postgres.cdc.names import publication_name, slot_name

pytestmark = pytest.mark.unit


def test_a_flow_id_becomes_syncgate_prefixed() -> None:
    assert slot_name("erp_orders") == publication_name("erp_orders") == "syncgate_erp_orders"


@given(st.text(min_size=1, max_size=200))
def test_any_id_gives_a_valid_stable_slot_name(flow_id: str) -> None:
    name = slot_name(flow_id)
    assert len(name.encode()) <= 63 and name == slot_name(flow_id)
    assert all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name)


def test_two_ids_that_sanitise_alike_stay_apart() -> None:
    assert slot_name("Orders") != slot_name("orders") and slot_name("a-b") != slot_name("a_b")
