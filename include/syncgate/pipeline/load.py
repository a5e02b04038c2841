"""Load: copy the landed batch into a staging table of the flow's state database.

Staging lives in schema ``syncgate_staging``, one table per run (``batch.staging``), so a retry
simply rebuilds it and a rejected batch stays there for inspection until the flow's next run.
Every target is staged the same way: verify checks exactly this table, promote reads it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.batch.staging import deleted_table, keys_table, staging_table
from syncgate.connectors.registry import source_for, target_for
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.pipeline.leftovers import drop_finished_staging
from syncgate.pipeline.startup import import_libraries
from syncgate.spec.model import FlowSpec
from syncgate.staging.copy_in import copy_into, describe_copy_error
from syncgate.state import audit
from syncgate.state.schema import ensure_state_schema

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def load(spec: FlowSpec, run: RunInfo, batch: Batch) -> Batch:
    """COPY the batch (and, for hard deletes, the source key set) into staging."""
    import psycopg

    startup = import_libraries("load")
    started = time.monotonic()
    columns = batch.columns
    staging = staging_table(run)
    with connect(spec.state_conn_id) as conn:
        ensure_state_schema(conn)
        drop_finished_staging(conn, spec.id, keep=run.run_id)
        # Recorded before any COPY commits: if this load fails midway, the flow's next run
        # finds the half-filled table in the audit trail and drops it. Transform has no state
        # connection of its own, so its time is recorded here, from the batch it handed on.
        audit.update_run(
            conn,
            spec.id,
            run.run_id,
            staging_table=str(staging),
            transform_seconds=batch.seconds.get("transform"),
        )
        conn.commit()
        logged = target_for(spec).adopts_staging(conn, spec, batch)
        exact = _text_exact(spec, columns)
        try:
            rows = copy_into(
                conn, spec.state_conn_id, staging, columns, batch.files["staged"], logged=logged, exact=exact
            )
            types = dict(columns)
            key_columns = [(name, types[name]) for name in spec.target_primary_key]
            if batch.has_key_set:
                copy_into(
                    conn, spec.state_conn_id, keys_table(run), key_columns, batch.files["keys"], exact=exact
                )
            if batch.has_deletions:
                copy_into(
                    conn,
                    spec.state_conn_id,
                    deleted_table(run),
                    key_columns,
                    batch.files["deleted"],
                    exact=exact,
                )
        except (
            psycopg.errors.DataError,
            psycopg.errors.ProgrammingError,
            psycopg.errors.NotSupportedError,
        ) as exc:
            # A value its type rejects (a transform cast, a regclass naming a relation this
            # database lacks...): a retry cannot fix it; fail before staging is used.
            raise FatalError(f"flow {spec.id!r}: {describe_copy_error(exc, dict(columns))}") from None
        audit.update_run(conn, spec.id, run.run_id, load_seconds=time.monotonic() - started)
        conn.commit()
    seconds = time.monotonic() - started
    log.info("Loaded %d rows into %s in %.2fs", rows, staging, seconds)
    return dataclasses.replace(batch, staging_table=str(staging), staged_rows=rows).with_seconds(
        load=seconds, load_startup=startup
    )


def _text_exact(spec: FlowSpec, columns: list[tuple[str, str]]) -> frozenset[str]:
    """Columns whose landed text PostgreSQL printed for their own type (binary-encodable)."""
    if not source_for(spec).lands_postgres_text:
        return frozenset()
    return frozenset(name for name, _ in columns if name not in spec.transform.cast)
