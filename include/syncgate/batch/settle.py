"""Settling a verified batch: the checks and the bookkeeping every target's apply shares.

A target writes its data; everything around that is here, so no target can forget a piece:

- the flow's watermark row is locked; a batch that a newer promoted read carries is settled
  as ``superseded`` (nothing written), and one whose window no longer meets the watermark is
  refused (``ConcurrentRunError``);
- the target is claimed for the flow, and refused when another flow owns it
  (``syncgate.state.target_owners``);
- a batch the audit trail already records as applied is not applied again (a retried promote);
- the quality gate is checked in code: the batch must have a passing verdict and its staged
  tables must be exactly what verify checked (``syncgate.quality.verdicts``);
- afterwards the watermark moves to the batch's boundary, the audit row closes with the counts,
  and the staged tables and landed files go.

``apply_once`` runs all of it around a target's ``write`` in ONE transaction on the state
database: a PostgreSQL target writes in that same transaction (its rows, deletes, watermark and
audit row commit together); a target on another system writes there first, and a crash before
the state commits leaves the watermark behind, so the retry writes the same rows again (which
must change nothing) and then settles. A target that cannot hold one transaction (an API, see
``connectors.http.push``) calls the pieces itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch import fence
from syncgate.batch.staging import deleted_of, keys_of
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.db.sql import compose
from syncgate.errors import BatchSuperseded, ConcurrentRunError
from syncgate.quality import verdicts
from syncgate.state import audit, target_owners
from syncgate.state.watermarks import Watermark, lock_watermark, write_watermark

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.contract import Batch
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec

log = logging.getLogger(__name__)

COUNTS = ("rows_inserted", "rows_updated", "rows_deleted")


@dataclass
class Written:
    """What a target's write did: its counts, and any further audit-row values it measured."""

    counts: dict[str, int]
    audit: dict[str, Any] = field(default_factory=dict)


def apply_once(
    flow: FlowSpec,
    run: RunInfo,
    batch: Batch,
    write: Callable[[psycopg.Connection[Any]], Written],
) -> dict[str, int]:
    """Check, ``write``, then settle the batch, in one transaction on the state database.

    ``write`` receives that transaction's connection (the staged tables are read through it).
    Returns the counts written, or those recorded when the batch was applied before.
    """
    started = time.monotonic()
    try:
        with connect(flow.state_conn_id) as conn:
            with conn.transaction():
                done = begin(conn, flow, run, batch)
                if done is not None:
                    return done
                written = write(conn)
                settle(conn, flow, run, batch, written, seconds=time.monotonic() - started)
    except BatchSuperseded as exc:
        supersede(flow, run, batch, exc, seconds=time.monotonic() - started)
        return dict.fromkeys(COUNTS, 0)
    forget(flow, batch)
    return written.counts


def begin(conn: psycopg.Connection[Any], flow: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int] | None:
    """Lock the flow and run the checks; the recorded counts when the batch is already applied."""
    mark = lock_watermark(conn, flow.id)
    target_owners.claim(conn, flow, flow.state_conn_id)
    done = audit.read_run(conn, flow.id, run.run_id)
    if done and done["status"] == "success" and done["batch_id"] == batch.batch_id:
        log.info("Batch %s of flow %s was already applied: nothing to do", batch.batch_id, flow.id)
        return {k: int(done.get(k) or 0) for k in COUNTS}
    require_current_batch(conn, flow, run, batch, mark)
    require_passing_gate(conn, flow, batch)
    return None


def require_current_batch(
    conn: psycopg.Connection[Any],
    flow: FlowSpec,
    run: RunInfo,
    batch: Batch,
    mark: Watermark,
    *,
    planned: int | None = None,
) -> None:
    """Refuse a batch that another run overtook: a newer read promoted, or planned its push to
    an API (``planned``, see ``fence.require_newest``) (``BatchSuperseded`` outside backfills),
    or the watermark moved in a way this batch's window does not cover."""
    interval = f"{batch.window.lower} to {batch.window.upper}" if run.is_backfill else None
    fence.require_newest(conn, {flow.id: batch.sequence}, flow_id=flow.id, backfill=interval, planned=planned)
    require_current_watermark(flow, batch, mark)


def require_current_watermark(flow: FlowSpec, batch: Batch, mark: Watermark) -> None:
    """Refuse a batch extracted against a watermark that has moved since, unless an older read
    moved it.

    Reads of a flow are serialised and numbered (``fence``), and a watermark remembers the
    number of the read that set it. A smaller number read an older snapshot, starting from the
    watermark this batch started from or a later one: this batch's window starts at or before
    the new watermark and reaches at least as far, so promoting it skips nothing (overlapping
    runs of an event-driven flow). Any other move (a reset by hand, a watermark older than the
    numbers) refuses the batch, as it could leave a gap.
    """
    if not batch.window.moves_watermark:
        return
    if (mark.value, mark.batch_id) == (batch.watermark_before, batch.watermark_batch_before):
        return
    if mark.sequence is not None and batch.sequence is not None and mark.sequence < batch.sequence:
        log.info(
            "Flow %s: the watermark moved to %r since batch #%d was read, by the older batch #%d; this "
            "batch's window covers it", flow.id, mark.value, batch.sequence, mark.sequence,
        )  # fmt: skip
        return
    raise ConcurrentRunError(
        f"the watermark of flow {flow.id!r} moved from {batch.watermark_before!r} to "
        f"{mark.value!r} since this batch was extracted; rerun the flow"
    )


def require_passing_gate(conn: psycopg.Connection[Any], flow: FlowSpec, batch: Batch) -> None:
    """The batch has a passing quality verdict, and its staged tables are what verify checked."""
    verdicts.require_passing(conn, flow.id, batch.batch_id, staged_tables(batch))


def staged_tables(batch: Batch) -> list[TableRef]:
    """The tables verify checked: the staged batch, and the source's key set next to it."""
    staging = TableRef.parse(str(batch.staging_table))
    tables = [staging, keys_of(staging)] if batch.has_key_set else [staging]
    return [*tables, deleted_of(staging)] if batch.has_deletions else tables


def settle(
    conn: psycopg.Connection[Any],
    flow: FlowSpec,
    run: RunInfo,
    batch: Batch,
    written: Written,
    *,
    seconds: float,
    failure: str | None = None,
) -> None:
    """Move the watermark (unless the run failed) and close the audit row; drop the staged tables.

    The batch's number is recorded as promoted even when the run fails: a target that took part
    of it (an API) must not receive an older batch afterwards either. A backfill's fences only
    scheduled batches read before it (``fence.record_backfilled``).
    """
    if run.is_backfill:
        fence.record_backfilled(conn, flow.id, batch.sequence)
    else:
        fence.record_promoted(conn, {flow.id: batch.sequence})
    if failure is None and batch.window.moves_watermark and batch.boundary:
        boundary = landing.read_json(batch.boundary)
        write_watermark(
            conn,
            flow.id,
            boundary.get("column") or str(flow.source.cursor),  # a log-based source names its own
            Watermark(boundary["value"], boundary["keys"]),
            batch.batch_id,
            batch.sequence,
        )
    audit.update_run(
        conn, flow.id, run.run_id, status="failed" if failure else "success", promote_seconds=seconds,
        watermark_after=batch.watermark_before if failure else batch.watermark_after,
        staging_table=None, error=failure, **written.counts, **written.audit,
    )  # fmt: skip
    drop_staged(conn, batch)


def supersede(
    flow: FlowSpec,
    run: RunInfo,
    batch: Batch,
    exc: BatchSuperseded,
    *,
    seconds: float,
    counts: dict[str, int] | None = None,
) -> None:
    """Settle a batch that a newer promoted batch carries: nothing (more) written, the watermark
    left to the newer one, the audit row closed as ``superseded``, staging and landing removed.
    ``counts``: what an API push of the batch had confirmed before it was overtaken."""
    log.info("Flow %s: batch #%s is superseded by #%d, which already promoted; nothing to write",
             flow.id, batch.sequence, exc.newest)  # fmt: skip
    with connect(flow.state_conn_id) as conn:
        with conn.transaction():
            audit.update_run(
                conn, flow.id, run.run_id, status="superseded", promote_seconds=seconds,
                watermark_after=batch.watermark_before, staging_table=None, error=str(exc),
                **{**dict.fromkeys(COUNTS, 0), **(counts or {})},
            )  # fmt: skip
            drop_staged(conn, batch)
    forget(flow, batch)


def drop_staged(conn: psycopg.Connection[Any], batch: Batch) -> None:
    staging = TableRef.parse(str(batch.staging_table))
    for table in (staging, keys_of(staging), deleted_of(staging)):
        conn.execute(compose("DROP TABLE IF EXISTS {}", table.sql))


def forget(flow: FlowSpec, batch: Batch) -> None:
    """After the state committed: the landed files of a settled batch are not needed again."""
    landing.forget_batch(flow.id, batch.batch_id)
