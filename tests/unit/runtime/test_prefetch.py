from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncgate.runtime.prefetch import prefetch

pytestmark = pytest.mark.unit


def test_yields_everything_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_producer_errors_reach_the_consumer_after_the_items_before_them() -> None:
    def broken() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("source went away")

    seen = []
    with pytest.raises(ValueError, match="source went away"):
        for item in prefetch(broken()):
            seen.append(item)
    assert seen == [1, 2]


def test_consumer_leaving_early_stops_the_producer() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in prefetch(endless(), depth=1):
        if item == 3:
            break
    assert len(produced) <= 6  # bounded read-ahead, then the thread ends
    assert not [t for t in threading.enumerate() if t.name == "syncgate-prefetch"]
