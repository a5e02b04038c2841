"""Promote for HTTP targets: plan the batch's changes, push them, then record the outcome.

PostgreSQL promotes in one transaction; an API cannot join one. What holds instead:

- the change set is planned once per batch and stored with an idempotency key per change, so
  a retried or resumed push re-sends identical requests and the API replays what it applied;
- each chunk's outcomes and the mirror rows they confirm commit together, so the mirror only
  holds what the API accepted;
- the watermark and the audit row's final status commit in one transaction after the last
  change is settled, so a failed push leaves the watermark where it was;
- a batch whose push never finished (the run was abandoned) is completed, with its own keys,
  before the next batch is planned.

Not possible: rolling back what the API already applied when a later change fails. The
mirror records it, so the next run does not push it again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import ConcurrentRunError, FatalError, RetriableError
from syncgate.observe import freshness
from syncgate.pipeline.load import keys_of
from syncgate.pipeline.merge_sql import compose
from syncgate.pipeline.push import progress
from syncgate.pipeline.push.changes import plan_changes
from syncgate.pipeline.push.mirror import ensure_mirror, mirror_table
from syncgate.pipeline.push.transport import Transport
from syncgate.pipeline.run import RunInfo
from syncgate.quality import verdicts
from syncgate.spec.model import FlowSpec, HttpTarget
from syncgate.state import audit
from syncgate.state.watermarks import Watermark, lock_watermark, write_watermark

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

SINGLE_CHUNK = 50  # single-record requests whose outcomes commit together


def push(spec: FlowSpec, run: RunInfo, manifest: dict[str, Any]) -> dict[str, int]:
    """Push the verified batch to the flow's API; returns the counts written."""
    assert isinstance(spec.target, HttpTarget)
    started = time.monotonic()
    batch_id = manifest["batch_id"]
    # Autocommit: each step below is its own explicit transaction, committed as it ends.
    with connect(spec.state_conn_id, autocommit=True) as conn:
        _lock_flow(conn, spec.id)
        try:
            done = _already_finished(conn, spec, run, batch_id)
            if done is not None:
                return done
            with conn.transaction():
                mirror = ensure_mirror(conn, spec, [tuple(c) for c in manifest["columns"]])
            with Transport(spec.target) as transport:
                carried = _complete_abandoned(conn, spec, transport, batch_id)
                with conn.transaction():
                    _check_watermark(conn, spec, manifest)
                    if progress.batch_status(conn, spec.id, batch_id) is None:
                        verdicts.require_passing(conn, spec.id, batch_id, verdicts.staged_tables(manifest))
                        planned = plan_changes(conn, spec, run, manifest, mirror)
                        log.info(
                            "Planned changes of batch %s for %s: %s", batch_id, spec.target.endpoint, planned
                        )
                try:
                    _push_batch(conn, spec, transport, batch_id, run.run_id)
                except Exception:
                    _record_progress(conn, spec, run, batch_id)
                    raise
            counts, failure = _finish(conn, spec, run, manifest, started, carried)
        finally:
            _unlock_flow(conn, spec.id)
    landing.forget_batch(spec.id, batch_id)
    if failure:
        raise FatalError(failure)
    log.info(
        "Pushed batch %s to %s: %s in %.2fs",
        batch_id,
        spec.target.endpoint,
        counts,
        time.monotonic() - started,
    )
    return counts


def _complete_abandoned(
    conn: psycopg.Connection[Any], spec: FlowSpec, transport: Transport, batch_id: str
) -> dict[str, int]:
    """Finish the pushes of earlier batches whose runs gave up, with their own keys.

    Their changes may have reached the API unconfirmed; re-sending them under the same keys
    settles them before this batch is compared with the mirror. Returns what was sent, which
    counts for this run.
    """
    sent = progress.count([])
    for old_batch, old_run in progress.unfinished_batches(conn, spec.id):
        if old_batch == batch_id:
            continue
        log.warning("Completing the unfinished push of batch %s (run %s) first", old_batch, old_run)
        for key, value in _push_batch(conn, spec, transport, old_batch, old_run).items():
            sent[key] += value
        with conn.transaction():
            progress.finish_batch(conn, spec.id, old_batch)
    return sent


def _push_batch(
    conn: psycopg.Connection[Any], spec: FlowSpec, transport: Transport, batch_id: str, run_id: str
) -> dict[str, int]:
    """Send a batch's pending changes chunk by chunk; returns the counts of what this call sent."""
    assert isinstance(spec.target, HttpTarget)
    chunk = spec.target.batch.size if spec.target.batch else SINGLE_CHUNK
    sent = progress.count([])
    last = 0
    while True:
        with conn.transaction():
            changes = progress.pending(conn, spec.id, batch_id, chunk, after_seq=last)
        if not changes:
            return sent
        last = changes[-1].seq
        outcomes = transport.send(changes)
        with conn.transaction():
            progress.record(conn, spec, run_id, outcomes)
        counted = progress.count(outcomes)
        for key, value in counted.items():
            sent[key] += value
        log.info(
            "Pushed %d changes of batch %s (%d refused by the API)",
            len(outcomes), batch_id, counted["rows_push_failed"],
        )  # fmt: skip


def _record_progress(conn: psycopg.Connection[Any], spec: FlowSpec, run: RunInfo, batch_id: str) -> None:
    """Best effort: a failing push leaves what it got confirmed so far in the audit row."""
    try:
        with conn.transaction():
            audit.update_run(conn, spec.id, run.run_id, **progress.tally(conn, spec.id, batch_id))
    except Exception:  # the push's own error matters more than this bookkeeping
        log.warning(
            "Could not record the push progress of batch %s in the audit row", batch_id, exc_info=True
        )


def _finish(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    manifest: dict[str, Any],
    started: float,
    carried: dict[str, int],
) -> tuple[dict[str, int], str | None]:
    """Record the final outcome; the watermark moves in the same transaction, unless the run fails."""
    assert isinstance(spec.target, HttpTarget)
    batch_id = manifest["batch_id"]
    staging = TableRef.parse(manifest["staging_table"])
    with conn.transaction():
        _check_watermark(conn, spec, manifest)
        tally = progress.tally(conn, spec.id, batch_id)
        counts = {key: value + carried.get(key, 0) for key, value in tally.items()}
        failed = counts["rows_push_failed"]
        failure = None
        if failed and spec.target.rejects.fail_run:
            failure = (
                f"the API refused {failed} of {failed + counts['rows_pushed']} change(s) of flow {spec.id!r} "
                "(see syncgate.rejected_records, stage 'push'); the others were applied. The watermark stays, "
                "so the next run offers the refused records again (rejects.fail_run: true)"
            )
        elif manifest["window"]["moves_watermark"] and manifest.get("boundary"):
            boundary = landing.read_json(manifest["boundary"])
            write_watermark(
                conn,
                spec.id,
                str(spec.source.cursor),
                Watermark(boundary["value"], boundary["keys"]),
                batch_id,
            )
        from psycopg import sql

        # The mirror holds what the API accepted: freshness is measured on it, like a target table.
        fresh = freshness.after_promote(
            conn, spec, run.run_id, mirror_table(spec.id), [tuple(c) for c in manifest["columns"]],
            batch_is_target=True, where_live=sql.SQL("TRUE"),
        )  # fmt: skip
        audit.update_run(
            conn, spec.id, run.run_id, status="failed" if failure else "success",
            promote_seconds=time.monotonic() - started,
            watermark_after=manifest["watermark_before"] if failure else manifest["watermark_after"],
            staging_table=None, error=failure, **counts, **(fresh.audit_values() if fresh else {}),
        )  # fmt: skip
        progress.finish_batch(conn, spec.id, batch_id)
        for table in (staging, keys_of(staging)):
            conn.execute(compose("DROP TABLE IF EXISTS {}", table.sql))
    return counts, failure


def _already_finished(
    conn: psycopg.Connection[Any], spec: FlowSpec, run: RunInfo, batch_id: str
) -> dict[str, int] | None:
    """A retried promote of a batch whose outcome is recorded repeats that outcome, sending nothing."""
    with conn.transaction():
        if progress.batch_status(conn, spec.id, batch_id) != "finished":
            return None
        row = audit.read_run(conn, spec.id, run.run_id)
    if row is None or row["batch_id"] != batch_id:
        return None
    log.info("Batch %s of flow %s was already pushed: nothing to do", batch_id, spec.id)
    if row["status"] == "failed" and row["error"]:
        raise FatalError(str(row["error"]))
    keys = ("rows_inserted", "rows_updated", "rows_deleted", "rows_pushed", "rows_push_failed")
    return {k: int(row.get(k) or 0) for k in keys}


def _check_watermark(conn: psycopg.Connection[Any], spec: FlowSpec, manifest: dict[str, Any]) -> None:
    mark = lock_watermark(conn, spec.id)
    before = (manifest["watermark_before"], manifest["watermark_batch_before"])
    if manifest["window"]["moves_watermark"] and (mark.value, mark.batch_id) != before:
        raise ConcurrentRunError(
            f"the watermark of flow {spec.id!r} moved from {manifest['watermark_before']!r} to "
            f"{mark.value!r} since this batch was extracted; rerun the flow"
        )


def _lock_flow(conn: psycopg.Connection[Any], flow_id: str) -> None:
    """One push per flow at a time, held across the push's many transactions."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('syncgate.push:' || %s))", (flow_id,)).fetchone()
    if not (row and row[0]):
        raise RetriableError(f"another run of flow {flow_id!r} is pushing to its API; retry later")


def _unlock_flow(conn: psycopg.Connection[Any], flow_id: str) -> None:
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(hashtext('syncgate.push:' || %s))", (flow_id,))
