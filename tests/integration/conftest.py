"""Fixtures shared by the integration tests (the services themselves start in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


@pytest.fixture(params=["upsert", "joins"])
def merge_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once per merge path of promote, and prove that path was the one taken.

    ``upsert``: one ``INSERT ... ON CONFLICT`` (small batches, target with a unique key index);
    ``joins``: ``UPDATE ... FROM`` then ``INSERT ... WHERE NOT EXISTS`` (big batches, or no index).
    """
    from syncgate.connectors.postgres import target as promote

    monkeypatch.setattr(promote, "UPSERT_BELOW_ROWS", 10**9 if request.param == "upsert" else 0)
    calls = {"upsert": 0, "joins": 0}
    for name, path in (("_upsert", "upsert"), ("_merge", "joins")):
        real = getattr(promote, name)

        def counted(*args: Any, _real: Any = real, _path: str = path, **kwargs: Any) -> Any:
            calls[_path] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(promote, name, counted)
    yield request.param
    assert calls[request.param] > 0, f"no merge went through the {request.param} path"
    other = "joins" if request.param == "upsert" else "upsert"
    assert calls[other] == 0, f"a merge went through the {other} path"
