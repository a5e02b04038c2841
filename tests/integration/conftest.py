"""Fixtures shared by the integration tests (the services themselves start in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from crm_push import wire_crm


@pytest.fixture
def crm_empty(
    crm_factory: Callable[..., Any], databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """An empty CRM wired to the ``crm_api`` connection; client retries without long waits."""
    server = crm_factory(customers=0, contacts=0)
    wire_crm(monkeypatch, server)
    return server
