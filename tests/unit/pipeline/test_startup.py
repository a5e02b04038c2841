"""Library start-up is measured apart from stage work."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

import pytest

from syncgate.pipeline.startup import STAGE_LIBRARIES, import_libraries

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stage", ["extract", "transform", "load", "promote"])
def test_a_stage_imports_its_libraries_before_its_timer(stage: str) -> None:
    # A fresh interpreter: what the stage needs is absent, then imported and timed.
    code = textwrap.dedent(f"""
        import sys
        from syncgate.pipeline.startup import STAGE_LIBRARIES, import_libraries
        assert not any(m in sys.modules for m in STAGE_LIBRARIES[{stage!r}]), "already imported"
        seconds = import_libraries({stage!r})
        assert all(m in sys.modules for m in STAGE_LIBRARIES[{stage!r}])
        assert seconds > 0, seconds
        # pandas costs 0.3-0.8 s per task: only GX (verify) may bring it
        assert "pandas" not in sys.modules, "pandas was imported"
        # What start-up created is out of the cyclic GC's reach; later objects are not.
        import gc
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen
        import_libraries({stage!r})
        assert gc.get_freeze_count() == frozen, "froze again"
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())


def test_a_second_import_costs_nothing_measurable() -> None:
    import_libraries("promote")
    assert import_libraries("promote") < 0.05


def test_every_stage_has_its_libraries() -> None:
    assert set(STAGE_LIBRARIES) == {"extract", "transform", "load", "verify", "promote"}


def test_freezing_startup_objects_does_not_leak_pending_cyclic_garbage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gc.freeze() without a gc.collect() first moves garbage cycles that were pending at that
    moment into the permanent generation: their finalizers (closing a connection, a file) never run."""
    from syncgate.pipeline import startup

    monkeypatch.setattr(startup, "_frozen", False)
    finalized: list[bool] = []

    class Node:
        pass

    was_enabled = gc.isenabled()
    gc.disable()  # make "a cycle not collected yet" deterministic
    try:
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        weakref.finalize(node, finalized.append, True)
        del node
        startup._freeze_startup_objects()
    finally:
        if was_enabled:
            gc.enable()
    gc.collect()
    try:
        assert finalized == [True], "a garbage cycle pending at start-up was frozen forever"
    finally:
        gc.unfreeze()
        gc.collect()


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
