from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.rejects import reject_failure
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit


def spec(rejects: dict[str, Any]) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "f",
            "source": {
                "type": "http",
                "conn_id": "api",
                "endpoint": "/x",
                "primary_key": ["id"],
                "rejects": rejects,
            },
            "target": {"type": "postgres", "conn_id": "db", "table": "t"},
        }
    )


def test_by_default_rejects_never_fail_the_run() -> None:
    assert reject_failure(spec({}), 1000) is None


def test_fail_run_fails_on_any_reject() -> None:
    assert reject_failure(spec({"fail_run": True}), 0) is None
    message = reject_failure(spec({"fail_run": True}), 1)
    assert message and "fails the run on any" in message and "syncgate.rejected_records" in message


def test_max_rejected_is_a_tolerance() -> None:
    assert reject_failure(spec({"max_rejected": 3}), 3) is None
    assert "more than 3" in str(reject_failure(spec({"max_rejected": 3}), 4))
