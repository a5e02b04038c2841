"""Registering a connector makes its ``type`` valid in every flow spec; unregistering undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from syncgate.connectors.base import Connector
from syncgate.connectors.registry import register, registered, source_for, unregister
from syncgate.errors import SpecError
from syncgate.spec.fields import Name, SourceSpec
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit


class ProbeSource(SourceSpec):
    type: Literal["probe_only"]
    conn_id: Name
    primary_key: list[Name] = []
    cursor: Name | None = None
    columns: list[Name] | None = None
    deletes: Literal["none"] = "none"
    soft_delete_column: None = None


def spec(source_type: str) -> dict[str, Any]:
    return {
        "id": "probe_flow",
        "source": {
            "type": source_type,
            "conn_id": "src",
            **({"table": "s"} if source_type == "postgres" else {}),
        },
        "target": {"type": "postgres", "conn_id": "dst", "table": "t", "write": "append"},
    }


@pytest.fixture
def probe() -> Iterator[None]:
    FlowSpec.model_validate(spec("postgres"))  # the built-in connectors first
    register(Connector("probe_only", ProbeSource, None, lambda s: s, None))
    yield
    unregister("probe_only")


def test_a_registered_type_validates_and_an_unregistered_one_is_unknown_again(probe: None) -> None:
    flow = FlowSpec.model_validate(spec("probe_only"))
    assert isinstance(flow.source, ProbeSource)
    assert "probe_only" in registered()

    unregister("probe_only")

    assert "probe_only" not in registered()
    with pytest.raises(ValidationError, match="probe_only"):
        FlowSpec.model_validate(spec("probe_only"))
    # A flow built while it was registered now finds no connector, by name.
    with pytest.raises(SpecError, match="no connector of type 'probe_only'"):
        source_for(flow)
    # The built-in connectors are untouched.
    assert FlowSpec.model_validate(spec("postgres")).source.type == "postgres"
