"""Signals gathered between two firings of an event trigger, and the debounce wait.

A trigger's background task ``add``s signals; its ``run`` loop waits for the first, lets the
``debounce`` window (counted from that first signal) pass, and ``take``s them all as one event.
Counting from the first signal bounds the wait: a steady stream of changes still fires every
``debounce`` seconds instead of never.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Window:
    """The signals one firing covers."""

    count: int
    first_at: datetime
    last_at: datetime


class Signals:
    """A counter of signals since the last ``take``; ``add`` is called from the event loop's thread."""

    def __init__(self) -> None:
        self._count = 0
        self._first_at = self._last_at = datetime.now(UTC)
        self._first_monotonic = 0.0
        self._arrived = asyncio.Event()

    @property
    def pending(self) -> bool:
        return self._count > 0

    def add(self, count: int = 1) -> None:
        if count <= 0:
            return
        stamp = datetime.now(UTC)
        if not self._count:
            self._first_at, self._first_monotonic = stamp, time.monotonic()
        self._count += count
        self._last_at = stamp
        self._arrived.set()

    async def wait(self, debounce: float, producer: asyncio.Task[None]) -> None:
        """Return once a signal came and ``debounce`` seconds passed since it.

        Raises:
            whatever ended ``producer`` (a trigger whose source of signals died must say so,
            not wait forever).
        """
        while not self._count:
            waiter = asyncio.ensure_future(self._arrived.wait())
            try:
                done, _ = await asyncio.wait({waiter, producer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if producer in done:
                producer.result()
                raise RuntimeError("the trigger's signal source stopped")
        remaining = debounce - (time.monotonic() - self._first_monotonic)
        if remaining > 0:
            await asyncio.sleep(remaining)

    def take(self) -> Window:
        """The signals so far as one window; the next ``add`` opens a new one."""
        window = Window(self._count, self._first_at, self._last_at)
        self._count = 0
        self._arrived.clear()
        return window
