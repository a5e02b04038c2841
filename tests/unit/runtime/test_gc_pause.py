"""The cyclic garbage collector is paused inside the block and restored to its earlier state."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from syncgate.runtime.gc_pause import gc_paused

pytestmark = pytest.mark.unit


@pytest.fixture
def gc_state() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    (gc.enable if was_enabled else gc.disable)()


@pytest.mark.usefixtures("gc_state")
def test_the_collector_is_off_inside_and_on_again_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("gc_state")
def test_the_collector_is_restored_when_the_block_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("stream failed")
    assert gc.isenabled()


@pytest.mark.usefixtures("gc_state")
def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
