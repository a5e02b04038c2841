"""LSN text form <-> 64-bit position."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncgate.connectors.postgres.cdc.lsn import to_int, to_text

pytestmark = pytest.mark.unit


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_round_trip(position: int) -> None:
    assert to_int(to_text(position)) == position


def test_known_values_and_bad_input() -> None:
    assert to_int("16/B374D848") == (0x16 << 32) | 0xB374D848 and to_text(0x1_0000_00A0) == "1/A0"
    with pytest.raises(ValueError):
        to_int("nonsense")
