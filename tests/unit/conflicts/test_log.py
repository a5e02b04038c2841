"""What the conflict log module refuses before touching a database, and the counts it reads."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.conflicts.log import ResolutionRefused, by_field_rule, list_conflicts, resolve
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit


class NoDatabase:
    """Any use fails the test: these refusals must come before a query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name})")


def test_a_side_outside_the_flow_is_refused_before_any_query() -> None:
    with pytest.raises(ResolutionRefused, match=r"flow 'f' has no side 'c'; choose one of: a, b"):
        resolve(NoDatabase(), 1, flow_id="f", sides=["a", "b"], side="c", by="ana")  # type: ignore[arg-type]
    assert issubclass(ResolutionRefused, FatalError)


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status must be one of parked, resolved, all"):
        list_conflicts(NoDatabase(), ["f"], status="open")  # type: ignore[arg-type]


def test_by_field_rule_reads_the_audit_counts_and_ignores_other_shapes() -> None:
    counts = {
        "total": 2,
        "parked": 0,
        "by_field_rule": [{"field": "a", "rule": "manual", "count": 2}, "junk"],
    }
    assert by_field_rule(counts) == [{"field": "a", "rule": "manual", "count": 2}]
    assert by_field_rule({"source_wins": 2}) == [] and by_field_rule(None) == [] and by_field_rule([1]) == []
