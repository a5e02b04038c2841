"""Rejected records are shown with every PII column masked, under source and target names."""

from __future__ import annotations

import pytest

from syncgate.spec.model import FlowSpec
from syncgate.ui.masking import MASK, masked, pii_columns

pytestmark = pytest.mark.unit


def test_pii_columns_are_masked_under_source_and_target_names() -> None:
    spec = FlowSpec.model_validate(
        {
            "id": "people",
            "source": {"type": "postgres", "conn_id": "a", "table": "public.p", "primary_key": ["id"]},
            "target": {"type": "postgres", "conn_id": "b", "table": "public.p", "write": "merge"},
            "transform": {"rename": {"mail": "email"}, "hash": ["email", "phone"]},
            "pii": ["name"],
        }
    )
    assert pii_columns(spec) == {"mail", "email", "phone", "name"}
    record = {"id": 1, "mail": "a@b.c", "phone": None, "name": "Ann", "city": "Oslo"}
    assert masked(record, pii_columns(spec)) == {
        "id": 1, "mail": MASK, "phone": None, "name": MASK, "city": "Oslo",
    }  # fmt: skip
    assert masked(["not", "a", "dict"], {"x"}) == ["not", "a", "dict"]


def test_a_sync_flows_pii_are_its_pii_fields() -> None:
    from syncgate.spec.sync_model import SyncSpec

    side = {"type": "postgres", "table": "public.t", "primary_key": ["id"], "cursor": "updated_at"}
    spec = SyncSpec.model_validate(
        {"id": "s", "mode": "two_way", "pii": ["email"],
         "sides": {"a": {**side, "conn_id": "a_db"}, "b": {**side, "conn_id": "b_db"}}}
    )  # fmt: skip
    assert pii_columns(spec) == {"email"}
