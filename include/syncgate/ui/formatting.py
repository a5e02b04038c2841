"""Human forms of durations, counts and timestamps for the pages."""

from __future__ import annotations

from datetime import datetime


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m 35s``; None -> an en dash."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def count(value: int | None) -> str:
    """``1234567`` -> ``1,234,567``; None -> an en dash."""
    return "–" if value is None else f"{int(value):,}"


def timestamp(value: datetime | None) -> str:
    """UTC timestamp to the second; None -> an en dash."""
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
