"""The HTTP target: an API receiving the flow's creates, updates and deletes, record by record.

State, audit, staging and the mirror of what the API accepted live on the target's
``state_conn_id``; ``push.pusher`` says what holds when an API cannot join a transaction.
As a side of a two-way or multi-way flow it writes single records (``side_writer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from syncgate.connectors.base import AssetRef, RecordResult, RecordWrite
from syncgate.connectors.http.source import HTTP_LIBRARIES
from syncgate.connectors.http.spec import HttpTarget as HttpTargetSpec
from syncgate.db.identifiers import TableRef
from syncgate.state.schema import MIRROR_SCHEMA

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.contract import Batch
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec


class HttpTarget:
    """Pushes changes to the endpoint of the API behind ``conn_id``."""

    libraries: tuple[str, ...] = HTTP_LIBRARIES
    # Call by call: an older run's push could land over a newer run's unfinished one.
    applies_atomically = False

    def __init__(self, spec: HttpTargetSpec) -> None:
        self.spec = spec

    def asset(self, flow: FlowSpec) -> AssetRef:
        return AssetRef(
            name=f"{self.spec.conn_id}{self.spec.endpoint}",
            uri=f"syncgate-http://{self.spec.conn_id}{self.spec.endpoint}",
        )

    def describe(self, flow: FlowSpec) -> str:
        return (
            f"**Target:** API `{self.spec.endpoint}` on connection `{self.spec.conn_id}` (creates, updates "
            f"and deletes by `{flow.target_id_field}`). State, audit and the mirror of the API: connection "
            f"`{self.spec.state_conn_id}`."
        )

    def column_types(self, conn: psycopg.Connection[Any], flow: FlowSpec) -> dict[str, str]:
        return {}  # an API declares no column types: a source infers its own

    def adopts_staging(self, conn: psycopg.Connection[Any], flow: FlowSpec, batch: Batch) -> bool:
        return False

    def freshness_table(self, flow: FlowSpec) -> TableRef | None:
        """The mirror of what the API accepted (``syncgate_mirror.<flow id>``) keeps the cursor."""
        return TableRef(MIRROR_SCHEMA, flow.id)

    def apply(self, flow: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int]:
        from syncgate.connectors.http.push.pusher import push

        return dict(push(flow, run, batch))

    def write_records(
        self, flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None
    ) -> list[RecordResult]:
        """A side of a sync flow: single records by id (``connectors.http.side_writer``)."""
        from syncgate.connectors.http.side_writer import write_records

        return write_records(flow, writes, read_until=read_until)
