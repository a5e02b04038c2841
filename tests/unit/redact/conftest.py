from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncgate.redact.registry import forget_all


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Secrets one test registers never mask another test's text."""
    yield
    forget_all()
