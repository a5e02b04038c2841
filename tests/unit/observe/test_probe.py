"""Which table shows what a flow's target holds (the probing queries run in tests/integration)."""

from __future__ import annotations

import pytest

from syncgate.db.identifiers import TableRef
from syncgate.observe.probe import Probe, target_table
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit

SOURCE = {
    "type": "postgres",
    "conn_id": "src",
    "table": "public.orders",
    "primary_key": ["id"],
    "cursor": "updated_at",
}


def test_a_table_target_is_measured_on_its_own_table() -> None:
    spec = FlowSpec.model_validate(
        {
            "id": "orders",
            "source": SOURCE,
            "target": {"type": "postgres", "conn_id": "dst", "table": "analytics.orders"},
        }
    )
    assert target_table(spec) == TableRef("analytics", "orders")


def test_an_api_target_is_measured_on_the_mirror_of_what_it_accepted() -> None:
    spec = FlowSpec.model_validate(
        {"id": "orders", "source": SOURCE,
         "target": {"type": "http", "conn_id": "crm", "state_conn_id": "state", "endpoint": "/v1/orders"}}
    )  # fmt: skip
    assert target_table(spec) == TableRef("syncgate_mirror", "orders")


def test_a_probe_without_a_problem_has_none() -> None:
    assert Probe("orders", None).problem is None
