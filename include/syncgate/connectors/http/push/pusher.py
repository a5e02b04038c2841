"""Promote for HTTP targets: plan the batch's changes, push them, then record the outcome.

PostgreSQL promotes in one transaction; an API cannot join one. What holds instead:

- the change set is planned once per batch and stored with an idempotency key per change, so
  a retried or resumed push re-sends identical requests and the API replays what it applied;
- each chunk's outcomes and the mirror rows they confirm commit together, so the mirror only
  holds what the API accepted;
- the watermark and the audit row's final status commit in one transaction after the last
  change is settled, so a failed push leaves the watermark where it was;
- a batch whose push never finished (the run was abandoned) is completed, with its own keys,
  before the next batch is planned; what the completing run sends counts in its own audit row,
  and the abandoned run's row keeps what it got confirmed itself. The abandoned run's retry (or
  a promote cleared by hand after it failed) settles it without sending anything: fenced like
  any promote, so it moves the watermark, or ends ``superseded`` when a newer batch promoted or
  planned since;
- the push is fenced like any promote (``batch/fence.py``), and from the moment it plans: its
  batch number is recorded with the plan, and a batch numbered below a newer planned or
  promoted one never sends again. Planning refuses it (``superseded``), its own retry stops
  resuming, and another run does not complete it: its pending changes are dropped unsent
  (the newer batch carries them), the ones the API confirmed stay in the mirror.

Not possible: rolling back what the API already applied when a later change fails. The
mirror records it, so the next run does not push it again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch import fence
from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.batch.settle import (
    COUNTS,
    Written,
    require_current_batch,
    require_passing_gate,
    settle,
    supersede,
)
from syncgate.connectors.http.push import progress
from syncgate.connectors.http.push.changes import plan_changes
from syncgate.connectors.http.push.mirror import ensure_mirror, mirror_table
from syncgate.connectors.http.push.transport import Transport
from syncgate.connectors.http.spec import http_target
from syncgate.db.connect import connect
from syncgate.errors import BatchSuperseded, ConcurrentRunError, FatalError
from syncgate.spec.model import FlowSpec
from syncgate.state import audit, freshness, target_owners
from syncgate.state.watermarks import lock_watermark

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

SINGLE_CHUNK = 50  # single-record requests whose outcomes commit together


def push(spec: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int]:
    """Push the verified batch to the flow's API; returns the counts written."""
    started = time.monotonic()
    batch_id = batch.batch_id
    # Autocommit: each step below is its own explicit transaction, committed as it ends.
    with connect(spec.state_conn_id, autocommit=True) as conn:
        _lock_flow(conn, spec.id)
        try:
            with conn.transaction():  # before anything is sent: another flow's API resource is not ours
                target_owners.claim(conn, spec, spec.state_conn_id)
            done = _already_finished(conn, spec, run, batch, started)
            if done is not None:
                landing.forget_batch(spec.id, batch_id)
                return done
            with conn.transaction():
                mirror = ensure_mirror(conn, spec, batch.columns)
            with Transport(http_target(spec)) as transport:
                carried = _complete_abandoned(conn, spec, transport, batch_id)
                try:
                    with conn.transaction():
                        _require_newest_push(conn, spec, run, batch)
                except BatchSuperseded as exc:  # before anything (more) of it is sent
                    return _supersede_own(conn, spec, run, batch, exc, started, carried)
                with conn.transaction():
                    if progress.batch_status(conn, spec.id, batch_id) is None:
                        require_passing_gate(conn, spec, batch)
                        planned = plan_changes(conn, spec, run, batch, mirror)
                        log.info(
                            "Planned changes of batch %s for %s: %s",
                            batch_id,
                            http_target(spec).endpoint,
                            planned,
                        )
                try:
                    _push_batch(conn, spec, transport, batch_id, run.run_id)
                except Exception:
                    _record_progress(conn, spec, run, batch_id)
                    raise
            counts, failure = _finish(conn, spec, run, batch, started, carried)
        finally:
            _unlock_flow(conn, spec.id)
    landing.forget_batch(spec.id, batch_id)
    if failure:
        raise FatalError(failure)
    log.info(
        "Pushed batch %s to %s: %s in %.2fs",
        batch_id,
        http_target(spec).endpoint,
        counts,
        time.monotonic() - started,
    )
    return counts


def _require_newest_push(conn: psycopg.Connection[Any], spec: FlowSpec, run: RunInfo, batch: Batch) -> None:
    """Refuse the batch when a newer one promoted or planned its push (its own transaction)."""
    mark = lock_watermark(conn, spec.id)
    planned = progress.newest_planned(conn, spec.id, other_than=batch.batch_id, backfills=not run.is_backfill)
    require_current_batch(conn, spec, run, batch, mark, planned=planned)


def _supersede_own(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    batch: Batch,
    exc: BatchSuperseded,
    started: float,
    carried: dict[str, int],
) -> dict[str, int]:
    """Settle this run's batch as superseded; a push it began (a retry) stops where it was.

    The audit row keeps what the API confirmed of it: counted from its changes, or, when another
    run already closed its push (or an earlier attempt settled it), the counts the row holds;
    plus what this run sent completing other runs' pushes (``carried``): the API applied those too.
    """
    with conn.transaction():
        status = progress.batch_status(conn, spec.id, batch.batch_id)
        row = audit.read_run(conn, spec.id, run.run_id) or {}
        if status == "superseded" or row.get("status") == "superseded":
            own = _recorded_counts(row)
        else:
            own = progress.tally(conn, spec.id, batch.batch_id)
        if status == "pushing":
            _drop_pending(conn, spec, batch.batch_id, run.run_id, exc.newest)
    kept = _added(own, carried)
    supersede(spec, run, batch, exc, seconds=time.monotonic() - started, counts=kept)
    if status is None and not any(kept.values()):
        return dict.fromkeys(COUNTS, 0)  # never planned, nothing sent: like any promote
    return kept


def _complete_abandoned(
    conn: psycopg.Connection[Any], spec: FlowSpec, transport: Transport, batch_id: str
) -> dict[str, int]:
    """Finish the pushes of earlier batches whose runs gave up, with their own keys.

    Their changes may have reached the API unconfirmed; re-sending them under the same keys
    settles them before this batch is compared with the mirror. Returns what was sent, which
    counts for this run; the abandoned run's audit row first receives what it got confirmed
    itself (its task may have died before recording it), since closing the push forgets its
    changes. One that a newer batch overtook sends nothing more: its remaining changes would
    undo the newer one's on the API.
    """
    sent = progress.count([])
    for old in progress.unfinished_batches(conn, spec.id):
        if old.batch_id == batch_id:
            continue
        with conn.transaction():
            _record_own_progress(conn, spec.id, old)
            newest = _newest_beyond(conn, spec.id, old)
            if newest is not None:
                _drop_pending(conn, spec, old.batch_id, old.run_id, newest)
                continue
        log.warning("Completing the unfinished push of batch %s (run %s) first", old.batch_id, old.run_id)
        for key, value in _push_batch(conn, spec, transport, old.batch_id, old.run_id).items():
            sent[key] += value
        with conn.transaction():
            progress.finish_batch(conn, spec.id, old.batch_id)
    return sent


def _record_own_progress(conn: psycopg.Connection[Any], flow_id: str, old: progress.Unfinished) -> None:
    """Write what an abandoned push got confirmed so far into its run's audit row (caller's transaction)."""
    row = audit.read_run(conn, flow_id, old.run_id)
    if row is not None and row["batch_id"] == old.batch_id:  # a rerun of the run reads another batch
        audit.update_run(conn, flow_id, old.run_id, **progress.tally(conn, flow_id, old.batch_id))


def _newest_beyond(conn: psycopg.Connection[Any], flow_id: str, old: progress.Unfinished) -> int | None:
    """The number of a batch newer than ``old`` that promoted or planned its push, if any.

    Promoted covers the committed watermark too (its ``sequence`` is a promoted number). A plan
    from before numbers were recorded cannot be compared: it is completed as it always was.
    """
    lock_watermark(conn, flow_id)  # promotes of the flow wait, so the numbers hold
    numbers = [fence.newest_promoted(conn, flow_id), progress.newest_planned(conn, flow_id, old.batch_id)]
    newest = max((n for n in numbers if n is not None), default=None)
    if old.sequence is None or newest is None or newest <= old.sequence:
        return None
    return newest


def _drop_pending(
    conn: psycopg.Connection[Any], spec: FlowSpec, batch_id: str, run_id: str, newest: int | None
) -> None:
    """Close an overtaken push unsent (caller's transaction); what the API confirmed stays mirrored."""
    dropped = progress.pending_count(conn, spec.id, batch_id)
    log.warning(
        "Flow %s: the unfinished push of batch %s (run %s) is superseded by batch #%s: its %d pending "
        "change(s) are not sent (the newer batch carries them)", spec.id, batch_id, run_id, newest, dropped,
    )  # fmt: skip
    progress.finish_batch(conn, spec.id, batch_id, status="superseded")


def _push_batch(
    conn: psycopg.Connection[Any], spec: FlowSpec, transport: Transport, batch_id: str, run_id: str
) -> dict[str, int]:
    """Send a batch's pending changes chunk by chunk; returns the counts of what this call sent."""
    batch = http_target(spec).batch
    chunk = batch.size if batch else SINGLE_CHUNK
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
    batch: Batch,
    started: float,
    carried: dict[str, int],
) -> tuple[dict[str, int], str | None]:
    """Record the final outcome; the watermark moves in the same transaction, unless the run fails."""
    with conn.transaction():
        _require_newest_push(conn, spec, run, batch)
        counts = _added(progress.tally(conn, spec.id, batch.batch_id), carried)
        failed = counts["rows_push_failed"]
        failure = _refusal(spec, f"{failed} of {failed + counts['rows_pushed']}") if failed else None
        _settle_pushed(conn, spec, run, batch, counts, failure, started)
        progress.finish_batch(conn, spec.id, batch.batch_id)
    return counts, failure


def _refusal(spec: FlowSpec, refused: str) -> str | None:
    """The run's failure when the API refused changes and ``rejects.fail_run`` is on."""
    if not http_target(spec).rejects.fail_run:
        return None
    # The watermark stays: the next run offers the refused records again.
    return (
        f"the API refused {refused} change(s) of flow {spec.id!r} (see syncgate.rejected_records, stage "
        "'push'); the others were applied. The watermark stays, so the next run offers the refused "
        "records again (rejects.fail_run: true)"
    )


def _settle_pushed(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    batch: Batch,
    counts: dict[str, int],
    failure: str | None,
    started: float,
) -> None:
    """Move the watermark (unless the run fails) and close the audit row (caller's transaction)."""
    from psycopg import sql

    # The mirror holds what the API accepted: freshness is measured on it, like a target table.
    fresh = freshness.after_promote(
        conn, spec, run.run_id, mirror_table(spec.id), batch.columns,
        batch_is_target=True, where_live=sql.SQL("TRUE"), target=None,
    )  # fmt: skip
    written = Written(counts, fresh.audit_values() if fresh else {})
    settle(conn, spec, run, batch, written, seconds=time.monotonic() - started, failure=failure)


def _already_finished(
    conn: psycopg.Connection[Any], spec: FlowSpec, run: RunInfo, batch: Batch, started: float
) -> dict[str, int] | None:
    """A retried promote of a batch whose push is finished sends nothing.

    It repeats the outcome its promote recorded; a run whose push another run completed (its
    own attempt died first) is settled now.
    """
    with conn.transaction():
        if progress.batch_status(conn, spec.id, batch.batch_id) != "finished":
            return None
        row = audit.read_run(conn, spec.id, run.run_id)
    if row is None or row["batch_id"] != batch.batch_id:
        return None
    if not _outcome_recorded(row):
        return _settle_completed(conn, spec, run, batch, row, started)
    log.info("Batch %s of flow %s was already pushed: nothing to do", batch.batch_id, spec.id)
    if row["status"] == "failed" and row["error"]:
        raise FatalError(str(row["error"]))
    return _recorded_counts(row)


def _outcome_recorded(row: dict[str, Any]) -> bool:
    """Whether a promote settled the run: ``settle`` and ``supersede`` set ``promote_seconds``.

    A row still ``running``, or ``failed`` without it (by the failure callback or the reaper, while
    the push was unfinished), belongs to a run whose push another run completed.
    """
    return row["status"] != "running" and (row["status"] != "failed" or row["promote_seconds"] is not None)


def _settle_completed(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    batch: Batch,
    row: dict[str, Any],
    started: float,
) -> dict[str, int]:
    """Settle a run whose push another run completed: its batch is on the API.

    Fenced like any promote: when a newer batch promoted or planned since (the completing run's
    own, say), the run ends ``superseded`` and the watermark stays with the newer one. The counts
    are what this run got confirmed itself; what the completing run sent counts in its row.
    """
    counts = _recorded_counts(row)
    try:
        with conn.transaction():
            _require_newest_push(conn, spec, run, batch)
            refused = progress.refused(conn, spec.id, batch.batch_id)
            failure = _refusal(spec, str(refused)) if refused else None
            _settle_pushed(conn, spec, run, batch, counts, failure, started)
    except BatchSuperseded as exc:
        supersede(spec, run, batch, exc, seconds=time.monotonic() - started, counts=counts)
        return counts
    log.info("Batch %s of flow %s was pushed by another run: settled", batch.batch_id, spec.id)
    if failure:
        landing.forget_batch(spec.id, batch.batch_id)
        raise FatalError(failure)
    return counts


def _recorded_counts(row: dict[str, Any]) -> dict[str, int]:
    keys = ("rows_inserted", "rows_updated", "rows_deleted", "rows_pushed", "rows_push_failed")
    return {k: int(row.get(k) or 0) for k in keys}


def _added(counts: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {key: value + more.get(key, 0) for key, value in counts.items()}


def _lock_flow(conn: psycopg.Connection[Any], flow_id: str) -> None:
    """One push per flow at a time, held across the push's many transactions."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('syncgate.push:' || %s))", (flow_id,)).fetchone()
    if not (row and row[0]):
        # Not retriable: once the other push finishes, this batch is behind its watermark.
        raise ConcurrentRunError(
            f"another run of flow {flow_id!r} is pushing to its API; this run stops without pushing "
            "(rerun it once the other has finished)"
        )


def _unlock_flow(conn: psycopg.Connection[Any], flow_id: str) -> None:
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(hashtext('syncgate.push:' || %s))", (flow_id,))
