"""The pure parts of the WAL source: transaction visibility in a snapshot, and the refusal to
read past a gap between the watermark and the slot. (Reading a real slot: the integration tier.)"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncgate.connectors.postgres.wal_source import _check_continuity, _visible
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit

FLOW: Any = SimpleNamespace(id="orders_live")


def test_a_transaction_committed_before_the_snapshot_is_visible() -> None:
    assert _visible(990, "995:1000:")
    assert _visible(997, "995:1000:996,998")


def test_a_transaction_still_running_at_the_snapshot_is_not_visible() -> None:
    assert not _visible(996, "995:1000:996,998")


def test_a_transaction_at_or_past_xmax_is_not_visible_yet() -> None:
    # In the WAL already, not yet visible to other sessions: the snapshot must be retaken.
    assert not _visible(1000, "995:1000:")
    assert not _visible(1005, "990:1000:")


@given(
    epoch=st.integers(min_value=0, max_value=5),
    xmax_low=st.integers(min_value=0, max_value=2**32 - 1),
    delta=st.integers(min_value=-(2**30), max_value=2**30),
)
def test_visibility_holds_across_an_xid_epoch_boundary(epoch: int, xmax_low: int, delta: int) -> None:
    xmax = (epoch << 32) | xmax_low
    full = xmax + delta
    if full < 3:
        return
    snapshot = f"{xmax}:{xmax}:"  # nothing in progress: visible exactly when below xmax
    assert _visible(full & 0xFFFFFFFF, snapshot) is (full < xmax)


def test_a_slot_at_or_behind_the_watermark_reads_on() -> None:
    _check_continuity(FLOW, "syncgate_orders_live", "0/1650", "0/1650")
    _check_continuity(FLOW, "syncgate_orders_live", "0/1650", "0/1600")  # a crash before the advance


def test_a_slot_ahead_of_the_watermark_is_a_gap_and_says_how_to_reload() -> None:
    with pytest.raises(FatalError, match="re-created or advanced outside syncgate") as raised:
        _check_continuity(FLOW, "syncgate_orders_live", "0/1650", "0/1700")
    assert "DELETE FROM syncgate.watermarks WHERE flow_id = 'orders_live'" in str(raised.value)


def test_a_cursor_watermark_left_by_a_capture_switch_is_refused() -> None:
    with pytest.raises(FatalError, match="not a log position"):
        _check_continuity(FLOW, "syncgate_orders_live", "2026-12-06 10:00:00+00", "0/1700")
