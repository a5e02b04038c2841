"""Human durations such as ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m``."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``2h`` / ``1h30m`` / a number of seconds (or a timedelta) into a timedelta.

    Raises:
        ValueError: the text is not a positive duration.
    """
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '15m' or '2h'")
    if isinstance(text, timedelta):  # an already parsed value, e.g. when settings are merged
        seconds = text.total_seconds()
    elif isinstance(text, (int, float)):
        seconds = float(text)
    else:
        compact = text.strip().lower().replace(" ", "")
        parts = _PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ValueError(f"{text!r} is not a duration such as '15m', '2h' or '1h30m'")
        try:
            seconds = sum(timedelta(**{_UNITS[u]: int(n)}).total_seconds() for n, u in parts)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        # timedelta would raise OverflowError, which validation does not catch: one spec's
        # `.inf` must be its own error, not a crash of every flow's DAG file.
        raise ValueError(f"{text!r} is not a duration of at most 100 years")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)
