"""Retry policy for HTTP calls: which failures are transient, how long to wait, rate limits.

Backoff is exponential with full jitter (a random wait between 0 and the exponential cap), so
many clients that failed together do not retry in lockstep. A server's ``Retry-After`` wins
over the computed backoff, in seconds or as an HTTP date; a malformed one falls back to backoff.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 408 request timeout, 425 too early, 429 too many requests, and every 5xx.
RETRIABLE_STATUS = frozenset({408, 425, 429})


def is_retriable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying (the request itself was fine)."""
    return status in RETRIABLE_STATUS or 500 <= status <= 599


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # A Retry-After beyond this is capped: a task must not sleep for hours on one header.
    max_retry_after_seconds: float = 300.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_seconds)
        cap = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return (rng or random).uniform(0, cap)


class TokenBucket:
    """Client-side rate limit: at most ``rate`` requests per second, bursts up to ``rate``.

    Thread-safe; ``acquire`` sleeps until a token is free. The clock and sleep are injectable
    so the arithmetic is unit-testable without waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping if none is available; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            # Spend the token now (possibly going negative) so concurrent callers queue up.
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return wait
