"""The HTTP connector: a JSON list endpoint as source (client, retries, pagination, record
flattening, coercion, drift) and an API receiving changes as target (``push``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncgate.connectors.base import Connector
from syncgate.connectors.http.spec import HttpSource as HttpSourceSpec
from syncgate.connectors.http.spec import HttpTarget as HttpTargetSpec
from syncgate.connectors.registry import register

if TYPE_CHECKING:
    from syncgate.connectors.base import Source, Target


def _source(spec: HttpSourceSpec) -> Source:
    from syncgate.connectors.http.source import HttpSource

    return HttpSource(spec)


def _target(spec: HttpTargetSpec) -> Target:
    from syncgate.connectors.http.target import HttpTarget

    return HttpTarget(spec)


register(Connector("http", HttpSourceSpec, HttpTargetSpec, _source, _target))
