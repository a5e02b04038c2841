"""A wal flow's slot and publication from its spec: what ``cdc setup`` / ``cdc drop`` do."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from syncgate.connectors.postgres.cdc import slot as slots
from syncgate.connectors.postgres.cdc.names import publication_name, slot_name
from syncgate.connectors.postgres.spec import PostgresSource
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

if TYPE_CHECKING:
    from syncgate.spec.model import FlowSpec


def wal_source(spec: FlowSpec) -> PostgresSource:
    """The flow's source, when it captures changes from the log; else a ``FatalError``."""
    source = spec.source
    if getattr(source, "type", None) != "postgres" or getattr(source, "capture", None) != "wal":
        raise FatalError(
            f"flow {spec.id!r} does not capture changes from the log: its source needs "
            "`type: postgres` and `capture: wal` (docs/wal-capture.md)"
        )
    return cast(PostgresSource, source)


def setup_flow(spec: FlowSpec) -> slots.SetupResult:
    """Create the flow's publication and slot on its source database (idempotent)."""
    source = wal_source(spec)
    with connect(source.conn_id) as conn:
        conn.autocommit = True
        return slots.setup(
            conn,
            TableRef.parse(str(source.table)),
            source.primary_key,
            slot_name(spec.id),
            publication_name(spec.id),
        )


def drop_flow(spec: FlowSpec) -> list[str]:
    """Drop the flow's slot and publication where they exist; what was dropped."""
    source = wal_source(spec)
    with connect(source.conn_id) as conn:
        conn.autocommit = True
        return slots.drop(conn, slot_name(spec.id), publication_name(spec.id))
