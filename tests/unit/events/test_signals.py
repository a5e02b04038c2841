"""The debounce window: counted from its first signal, one window per take, a dead producer raises."""

from __future__ import annotations

import asyncio
import time

import pytest

from syncgate.events.signals import Signals

pytestmark = pytest.mark.unit


async def forever() -> None:
    await asyncio.sleep(3600)


def test_signals_of_one_window_are_taken_together_and_the_next_opens_a_new_one() -> None:
    async def body() -> None:
        signals = Signals()
        producer = asyncio.create_task(forever())
        signals.add(2)
        signals.add(3)
        signals.add(0)  # nothing
        await signals.wait(0.0, producer)
        window = signals.take()
        assert window.count == 5 and window.first_at <= window.last_at
        assert not signals.pending
        signals.add()
        await signals.wait(0.0, producer)
        assert signals.take().count == 1
        producer.cancel()

    asyncio.run(body())


def test_wait_blocks_until_the_first_signal_then_lets_the_debounce_pass_from_it() -> None:
    async def body() -> None:
        signals = Signals()
        producer = asyncio.create_task(forever())
        waiter = asyncio.create_task(signals.wait(0.3, producer))
        await asyncio.sleep(0.1)
        assert not waiter.done()  # no signal yet
        signals.add()
        first = time.monotonic()
        await asyncio.sleep(0.1)
        signals.add()  # inside the window: same firing, and the window is not extended by it
        await waiter
        assert time.monotonic() - first >= 0.29
        assert signals.take().count == 2
        producer.cancel()

    asyncio.run(body())


def test_a_producer_that_dies_ends_the_wait_with_its_error() -> None:
    async def broken() -> None:
        raise ModuleNotFoundError("syncgate.connectors.postgres.cdc")

    async def body() -> None:
        signals = Signals()
        producer = asyncio.create_task(broken())
        with pytest.raises(ModuleNotFoundError):
            await signals.wait(1.0, producer)

    asyncio.run(body())
