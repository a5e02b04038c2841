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


def deleted_table(run: RunInfo) -> TableRef:
    return deleted_of(staging_table(run))


def deleted_of(staging: TableRef) -> TableRef:
    """The keys a source reports deleted (a change log), staged next to a batch.

    ``<id>__<12 hex>__deleted`` is at most 40 + 2 + 12 + 9 = 63 characters."""
    return TableRef(staging.schema, f"{staging.name}__deleted")
