"""Connectors by the spec's ``type``: the one place a system type is looked up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncgate.errors import SpecError
from syncgate.spec.model import register_connector_models, unregister_connector_models

if TYPE_CHECKING:
    from syncgate.connectors.base import Connector, Source, Target
    from syncgate.spec.model import FlowSpec

_CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    """Make ``type: <connector.type_name>`` available to every flow spec (as source, target or both)."""
    _CONNECTORS[connector.type_name] = connector
    register_connector_models(connector.type_name, connector.source_spec, connector.target_spec)


def unregister(type_name: str) -> None:
    """Undo ``register``: ``type: <type_name>`` is unknown again (a test's own connector)."""
    _CONNECTORS.pop(type_name, None)
    unregister_connector_models(type_name)


def registered() -> dict[str, Connector]:
    return dict(_CONNECTORS)


def source_for(flow: FlowSpec) -> Source:
    """The source of ``flow``, built from its spec."""
    factory = _connector(flow, flow.source.type).source
    if factory is None:
        raise SpecError(flow.id, [f"source.type: {flow.source.type!r} cannot be a source"])
    return factory(flow.source)


def target_for(flow: FlowSpec) -> Target:
    """The target of ``flow``, built from its spec."""
    factory = _connector(flow, flow.target.type).target
    if factory is None:
        raise SpecError(flow.id, [f"target.type: {flow.target.type!r} cannot be a target"])
    return factory(flow.target)


def _connector(flow: FlowSpec, type_name: str) -> Connector:
    try:
        return _CONNECTORS[type_name]
    except KeyError:
        known = ", ".join(sorted(_CONNECTORS)) or "none"
        raise SpecError(
            flow.id, [f"no connector of type {type_name!r} is registered (known: {known})"]
        ) from None
