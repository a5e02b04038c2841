from __future__ import annotations

import math

import pytest

from syncgate.observe.spikes import judge
from syncgate.spec.alerts import LagSpike

pytestmark = pytest.mark.unit

RULE = LagSpike(factor=3, window=5, min_runs=3, min_seconds="10s")


def test_a_value_above_factor_times_the_median_is_a_spike() -> None:
    spike = judge(100.0, [20, 30, 25, 1000, 10], RULE)  # median 25: one outlier does not move it
    assert spike is not None
    assert spike.median == 25 and spike.threshold == 75 and spike.runs == 5
    assert math.isclose(spike.ratio, 4.0)


def test_at_or_below_the_threshold_is_no_spike() -> None:
    assert judge(75.0, [20, 30, 25, 1000, 10], RULE) is None


def test_only_the_window_counts() -> None:
    # The sixth value (1 s) is outside the window of 5: median of [100]*5 = 100.
    assert judge(250.0, [100, 100, 100, 100, 100, 1], RULE) is None
    assert judge(301.0, [100, 100, 100, 100, 100, 1], RULE) is not None


def test_too_short_a_history_is_never_a_spike() -> None:
    assert judge(10_000.0, [1, 1], RULE) is None
    assert judge(10_000.0, [1, 1, 1], RULE) is not None


def test_min_seconds_floors_the_threshold() -> None:
    spike = judge(9.0, [1, 1, 1], RULE)  # 9x the median but under 10 s: noise
    assert spike is None
    spike = judge(11.0, [1, 1, 1], RULE)
    assert spike is not None and spike.threshold == 10


def test_even_history_uses_the_mean_of_the_middle_pair() -> None:
    spike = judge(100.0, [10, 20, 30, 40], LagSpike(factor=2, window=4, min_runs=4, min_seconds=1))
    assert spike is not None and spike.median == 25


def test_a_zero_median_has_an_infinite_ratio() -> None:
    spike = judge(60.0, [0, 0, 0], RULE)
    assert spike is not None and spike.ratio == math.inf


def test_no_value_is_no_spike() -> None:
    assert judge(None, [1, 2, 3], RULE) is None
