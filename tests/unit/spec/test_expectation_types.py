from __future__ import annotations

import pytest

from syncgate.spec.expectation_types import KNOWN_EXPECTATION_TYPES

pytestmark = pytest.mark.unit


def test_matches_the_installed_great_expectations_registry() -> None:
    from syncgate.spec.refresh_expectation_types import installed_expectation_types

    assert set(installed_expectation_types()) == KNOWN_EXPECTATION_TYPES, (
        "GX changed its expectation types: run `make expectation-types`"
    )
