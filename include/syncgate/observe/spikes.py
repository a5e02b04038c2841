"""Spike detection: a value far above the median of the flow's recent runs.

A fixed threshold cannot fit every flow (one syncs in 5 s, another in 40 min), so a run is
judged against its own history: ``value > factor x median`` of the last ``window`` runs, once
there are ``min_runs`` of them, and at least ``min_seconds`` (tiny values spike harmlessly).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from syncgate.spec.alerts import LagSpike


@dataclass(frozen=True)
class Spike:
    """A value judged against its baseline."""

    value: float
    median: float
    threshold: float
    runs: int

    @property
    def ratio(self) -> float:
        return self.value / self.median if self.median > 0 else float("inf")


def judge(value: float | None, history: Sequence[float], rule: LagSpike) -> Spike | None:
    """The spike if ``value`` is one, else None (also None while the history is too short).

    Args:
        value: the newest run's lag or duration, seconds.
        history: the previous runs' values, newest first (only the first ``window`` count).
        rule: factor, window, min_runs, min_seconds.
    """
    baseline = [v for v in history[: rule.window] if v is not None]
    if value is None or len(baseline) < min(rule.min_runs, rule.window):
        return None
    median = float(statistics.median(baseline))
    threshold = max(rule.factor * median, rule.min_seconds.total_seconds())
    if value <= threshold:
        return None
    return Spike(value=float(value), median=median, threshold=threshold, runs=len(baseline))
