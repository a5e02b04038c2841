from __future__ import annotations

import pytest

from syncgate.spec.expectation_types import KNOWN_EXPECTATION_TYPES

pytestmark = pytest.mark.unit


def test_matches_the_installed_great_expectations_registry() -> None:
    from syncgate.quality.checkpoint import quiet_gx

    quiet_gx()
    import great_expectations  # noqa: F401  (registers the core expectations)
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    assert set(list_registered_expectation_implementations()) == KNOWN_EXPECTATION_TYPES, (
        "GX changed its expectation types: run `make expectation-types`"
    )
