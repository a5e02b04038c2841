"""Run a producer one step ahead in a thread, so I/O and Arrow work overlap.

Bounded: at most ``depth`` items wait in the queue, so memory stays at a few batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` produced by a background thread; re-raises the producer's error."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, never swallowed
            failure.append(exc)
        finally:
            while True:
                try:
                    slots.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    worker = threading.Thread(target=produce, name="syncgate-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                break
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
    if failure:
        raise failure[0]
