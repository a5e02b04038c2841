from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncgate.batch.run import RunInfo
from syncgate.batch.window import plan_window
from syncgate.errors import FatalError
from syncgate.state.watermarks import Watermark

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 2, tzinfo=UTC)


def test_first_run_reads_everything() -> None:
    window = plan_window("updated_at", RunInfo("f", "r1"), Watermark())
    assert (window.lower, window.upper, window.moves_watermark) == (None, None, True)


def test_no_cursor_is_a_full_refresh_even_with_a_watermark() -> None:
    window = plan_window(None, RunInfo("f", "r1"), Watermark("5", ["1"]))
    assert window.lower is None and window.skip_keys == []


def test_incremental_merge_rereads_the_boundary_rows() -> None:
    # Merge leaves unchanged rows untouched, and sees updates that keep the cursor value.
    window = plan_window("updated_at", RunInfo("f", "r2", "scheduled"), Watermark("2026-01-01", ["7", "9"]))
    assert window.lower == "2026-01-01" and window.upper is None
    assert window.skip_keys == []
    assert window.moves_watermark


def test_incremental_append_skips_the_promoted_boundary_rows() -> None:
    mark = Watermark("2026-01-01", ["7", "9"])
    window = plan_window("updated_at", RunInfo("f", "r2"), mark, skip_boundary=True)
    assert window.skip_keys == ["7", "9"]


def test_backfill_reads_exactly_its_interval_and_keeps_the_watermark() -> None:
    run = RunInfo("f", "backfill__1", "backfill", START, END)
    window = plan_window("updated_at", run, Watermark("2027-01-01", ["1"]))
    assert (window.lower, window.upper) == (START.isoformat(), END.isoformat())
    assert window.skip_keys == [] and not window.moves_watermark


def test_backfill_needs_a_cursor() -> None:
    with pytest.raises(FatalError, match="no `source.cursor`"):
        plan_window(None, RunInfo("f", "b", "backfill", START, END), Watermark())
