"""The watermark value and its boundary keys (reading and writing them runs in tests/integration)."""

from __future__ import annotations

import pytest

from syncgate.state.watermarks import KEY_SEPARATOR, Watermark

pytestmark = pytest.mark.unit


def test_a_flow_that_never_promoted_has_an_empty_watermark() -> None:
    mark = Watermark()
    assert (mark.value, mark.boundary_keys, mark.batch_id) == (None, [], None)


def test_watermarks_do_not_share_their_boundary_key_lists() -> None:
    first, second = Watermark(), Watermark()
    first.boundary_keys.append("1")
    assert second.boundary_keys == []


def test_the_key_separator_cannot_appear_in_printable_key_text() -> None:
    # Composite keys are joined with it: "a" + "b|c" must never equal "a|b" + "c".
    assert KEY_SEPARATOR == "\x1f" and not KEY_SEPARATOR.isprintable()
