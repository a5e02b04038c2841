"""The lag trend as an inline SVG: one point per value, nothing user-supplied in the markup."""

from __future__ import annotations

import pytest

from syncgate.ui.sparkline import sparkline

pytestmark = pytest.mark.unit


def test_sparkline_draws_one_point_per_value_and_skips_gaps() -> None:
    svg = sparkline([10, None, 30, 20])
    points = svg.split('points="')[1].split('"')[0].split()
    assert (
        len(points) == 3
        and svg.startswith("<svg")
        and "<title>lag trend: last 20s, min 10s, max 30s</title>" in svg
    )
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] == min(ys) and ys[0] == max(ys)  # the highest lag is drawn at the top
    assert sparkline([5]) == "" and sparkline([]) == "" and sparkline([None, None]) == ""
    assert "nan" not in sparkline([3, 3, 3]).lower()  # a flat line, no division by zero
