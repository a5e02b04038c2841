"""Connectors by the spec's ``type``: registering one makes its ``type`` valid in every flow spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import Field, ValidationError

from syncgate.connectors import registry
from syncgate.connectors.base import Connector
from syncgate.connectors.http.source import HttpSource
from syncgate.connectors.postgres.target import PostgresTarget
from syncgate.connectors.registry import register, registered, source_for, unregister
from syncgate.errors import SpecError
from syncgate.spec import model
from syncgate.spec.fields import Name, SourceSpec
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit


class MemorySource(SourceSpec):
    type: Literal["memory"]
    conn_id: Name = "memory"
    rows: int
    primary_key: list[Name] = Field(default_factory=lambda: ["id"])
    cursor: Name | None = None
    columns: list[Name] | None = None
    deletes: Literal["none"] = "none"
    soft_delete_column: None = None


class Built:
    def __init__(self, spec: MemorySource) -> None:
        self.spec = spec


def flow(source: dict[str, Any]) -> FlowSpec:
    return FlowSpec.model_validate(
        {"id": "f", "source": source, "target": {"type": "postgres", "conn_id": "dst", "table": "t"}}
    )


@pytest.fixture
def restore_registry() -> Iterator[None]:
    """Registration is process-wide: put the shipped connectors back afterwards."""
    model.load_builtin_connectors()
    saved = (dict(registry._CONNECTORS), dict(model._SOURCE_MODELS), dict(model._TARGET_MODELS))
    yield
    for live, kept in zip(
        (registry._CONNECTORS, model._SOURCE_MODELS, model._TARGET_MODELS), saved, strict=True
    ):
        live.clear()
        live.update(kept)  # type: ignore[attr-defined]
    model.register_connector_models("postgres", None, None)  # rebuilds FlowSpec's unions


def test_the_shipped_connectors_are_registered_by_type() -> None:
    model.load_builtin_connectors()
    assert {"postgres", "http"} <= set(registry.registered())


def test_source_for_and_target_for_build_the_connector_of_the_spec_type() -> None:
    spec = flow({"type": "http", "conn_id": "api", "endpoint": "/v1/x", "primary_key": ["id"]})
    assert isinstance(registry.source_for(spec), HttpSource)
    assert isinstance(registry.target_for(spec), PostgresTarget)


@pytest.mark.usefixtures("restore_registry")
def test_registering_a_connector_makes_its_type_validate_and_build() -> None:
    with pytest.raises(ValidationError):
        flow({"type": "memory", "rows": 3})
    registry.register(Connector("memory", MemorySource, None, Built, None))
    spec = flow({"type": "memory", "rows": 3})
    assert isinstance(spec.source, MemorySource) and spec.source.rows == 3
    built = registry.source_for(spec)
    assert isinstance(built, Built) and built.spec is spec.source
    assert "memory" in registry.registered()


@pytest.mark.usefixtures("restore_registry")
def test_a_registered_type_without_a_source_factory_cannot_be_a_source() -> None:
    registry.register(Connector("memory", MemorySource, None, None, None))
    with pytest.raises(SpecError, match=r"source.type: 'memory' cannot be a source"):
        registry.source_for(flow({"type": "memory", "rows": 1}))


@pytest.mark.usefixtures("restore_registry")
def test_an_unknown_type_is_a_spec_error_naming_the_known_types() -> None:
    registry.register(Connector("memory", MemorySource, None, Built, None))
    spec = flow({"type": "memory", "rows": 1})
    del registry._CONNECTORS["memory"]  # the models stay: the spec validated, the connector is gone
    with pytest.raises(SpecError) as caught:
        registry.source_for(spec)
    assert "no connector of type 'memory' is registered (known: http, postgres)" in str(caught.value)
    assert caught.value.path == "f"


def test_registered_returns_a_copy() -> None:
    registry.registered().clear()
    assert registry.registered()


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
