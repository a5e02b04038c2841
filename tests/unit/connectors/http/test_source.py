"""A watermark that stays put keeps the boundary keys it had; a newer one has only its own."""

from __future__ import annotations

import pytest

from syncgate.batch.window import Window
from syncgate.connectors.http.source import boundary_keys

pytestmark = pytest.mark.unit


def test_a_watermark_that_does_not_move_keeps_the_earlier_boundary_keys() -> None:
    window = Window(lower="2026-01-01T00:00:00Z", skip_keys=["1", "2"])
    progress = {"cursor_max": "2026-01-01T00:00:00+00:00", "boundary_keys": ["3", "3"]}
    assert boundary_keys(window, progress["cursor_max"], progress) == ["1", "2", "3"]


def test_a_newer_watermark_has_only_the_new_boundary_keys() -> None:
    window = Window(lower="2026-01-01T00:00:00Z", skip_keys=["1", "2"])
    progress = {"boundary_keys": ["3"]}
    assert boundary_keys(window, "2026-01-02T00:00:00Z", progress) == ["3"]
    assert boundary_keys(Window(), "2026-01-02T00:00:00Z", progress) == ["3"]
