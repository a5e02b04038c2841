"""Where a run's batch is staged: one table per run in the state database's staging schema."""

from __future__ import annotations

from syncgate.batch.run import RunInfo
from syncgate.db.identifiers import TableRef
from syncgate.state.schema import STAGING_SCHEMA


def staging_table(run: RunInfo) -> TableRef:
    return TableRef(STAGING_SCHEMA, f"{run.flow_id}__{run.key}")


def keys_table(run: RunInfo) -> TableRef:
    return keys_of(staging_table(run))


def keys_of(staging: TableRef) -> TableRef:
    """The source key set staged next to a batch (hard-delete detection)."""
    return TableRef(staging.schema, f"{staging.name}__keys")
