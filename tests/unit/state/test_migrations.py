"""The migration steps: numbered without gaps, append-only (no database needed)."""

from __future__ import annotations

import pytest

from syncgate.state.migrations import Migration, check_steps, latest
from syncgate.state.schema import STEPS, ensure_state_schema

pytestmark = pytest.mark.unit


def test_the_shipped_steps_are_numbered_one_by_one_from_the_baseline() -> None:
    check_steps(STEPS)
    assert STEPS[0].version == 1 and "baseline" in STEPS[0].description
    assert latest(STEPS) == len(STEPS)
    assert all(step.description and step.sql.strip() for step in STEPS)


@pytest.mark.parametrize("numbers", [[1, 3], [2], [1, 2, 2], [2, 1]])
def test_a_gap_a_repeat_or_a_reorder_is_refused(numbers: list[int]) -> None:
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        check_steps([Migration(n, "x", "SELECT 1") for n in numbers])


def test_no_steps_is_version_zero() -> None:
    assert latest(()) == 0


def test_the_entry_point_tasks_call_is_the_versioned_check() -> None:
    assert ensure_state_schema.__module__ == "syncgate.state.schema"
    assert "one read" in (ensure_state_schema.__doc__ or "")
