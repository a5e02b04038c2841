"""The PostgreSQL connector: a table or query as source, a table as target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncgate.connectors.base import Connector
from syncgate.connectors.postgres.spec import PostgresSource as PostgresSourceSpec
from syncgate.connectors.postgres.spec import PostgresTarget as PostgresTargetSpec
from syncgate.connectors.registry import register

if TYPE_CHECKING:
    from syncgate.connectors.base import Source, Target


def _source(spec: PostgresSourceSpec) -> Source:
    if spec.capture == "wal":
        from syncgate.connectors.postgres.wal_source import PostgresWalSource

        return PostgresWalSource(spec)
    from syncgate.connectors.postgres.source import PostgresSource

    return PostgresSource(spec)


def _target(spec: PostgresTargetSpec) -> Target:
    from syncgate.connectors.postgres.target import PostgresTarget

    return PostgresTarget(spec)


register(Connector("postgres", PostgresSourceSpec, PostgresTargetSpec, _source, _target))
