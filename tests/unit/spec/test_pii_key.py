from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit


def spec(**extra: Any) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "people",
            "source": {"type": "postgres", "conn_id": "src", "table": "public.people", "primary_key": ["id"],
                       "columns": ["id", "mail", "phone", "city"]},
            "target": {"type": "postgres", "conn_id": "dst", "table": "public.people"},
            "transform": {"rename": {"mail": "email"}, "hash": ["phone"]},
            **extra,
        }
    )  # fmt: skip


def test_pii_columns_are_the_listed_ones_plus_every_hashed_one() -> None:
    assert spec(pii=["email"]).pii_columns == ["email", "phone"]
    assert spec().pii_columns == ["phone"]


def test_pii_names_columns_after_rename() -> None:
    with pytest.raises(
        ValidationError, match=r"`pii` names unknown column\(s\) mail \(use the names after `rename`\)"
    ):
        spec(pii=["mail"])


def test_pii_names_must_be_identifiers() -> None:
    with pytest.raises(ValidationError, match="pii"):
        spec(pii=["e-mail"])
