from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syncgate.connectors.http.retry import RetryPolicy, TokenBucket, is_retriable_status, parse_retry_after

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, NOW) == pytest.approx(42.0)


def test_retry_after_in_the_past_means_now() -> None:
    earlier = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(earlier, NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "1.5", "Thu, 99 Foo 2026 25:61:00 GMT", "\x00"])
def test_malformed_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(("status", "retriable"), [(429, True), (408, True), (500, True), (503, True),
                                                  (400, False), (401, False), (404, False), (422, False)])  # fmt: skip
def test_retriable_statuses(status: int, retriable: bool) -> None:
    assert is_retriable_status(status) is retriable


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=10.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2  # spread over the whole range


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_retry_after_seconds=30.0)
    assert policy.delay(1, retry_after=12.0) == 12.0
    assert policy.delay(1, retry_after=3600.0) == 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        assert bucket.acquire() == 0.0
    for _ in range(8):
        bucket.acquire()
    assert clock.slept == pytest.approx([0.25] * 8)
    assert clock.now == pytest.approx(2.0)  # 12 requests at 4/s after a burst of 4


def test_token_bucket_refills_while_idle() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.now += 10  # idle: refills, but never beyond one second's worth
    for _ in range(2):
        assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)


def test_token_bucket_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
