"""Push progress: the planned changes still to send, and the outcome of those sent.

Each chunk's outcomes, the mirror rows of its confirmed changes and its rejected records are
committed in one transaction, so a crash loses at most the outcomes of the chunk in flight;
those are re-sent with the same idempotency keys and the API replays its answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate.connectors.http.push.mirror import apply_confirmed
from syncgate.spec.model import FlowSpec

if TYPE_CHECKING:
    import psycopg

MASK = "***"


@dataclass(frozen=True)
class Change:
    """One planned create, update or delete."""

    batch_id: str
    seq: int
    op: str
    record_key: dict[str, Any]
    api_id: str | None
    body: dict[str, Any] | None
    idempotency_key: str


@dataclass(frozen=True)
class Outcome:
    """What the API said about one change: ``done`` (confirmed) or ``rejected`` (4xx)."""

    change: Change
    status: str
    http_status: int | None
    reason: str | None = None
    api_id: str | None = None


@dataclass(frozen=True)
class Unfinished:
    """A batch whose push never finished, and its number (None: planned before numbers were kept)."""

    batch_id: str
    run_id: str
    sequence: int | None


def unfinished_batches(conn: psycopg.Connection[Any], flow_id: str) -> list[Unfinished]:
    """Batches whose push never finished, oldest first."""
    rows = conn.execute(
        "SELECT batch_id, run_id, sequence FROM syncgate.push_batches WHERE flow_id = %s AND status = 'pushing' "
        "ORDER BY planned_at, batch_id",
        (flow_id,),
    ).fetchall()
    return [Unfinished(str(b), str(r), None if s is None else int(s)) for b, r, s in rows]


def newest_planned(
    conn: psycopg.Connection[Any], flow_id: str, other_than: str, *, backfills: bool = False
) -> int | None:
    """The largest number of another batch whose push was planned: its changes may be on the API.

    A backfill's plan counts only with ``backfills`` (for a scheduled batch): it may have created
    records the scheduled batch's older key set lacks. Backfill batches do not fence each other
    (``fence.record_backfilled``).
    """
    row = conn.execute(
        "SELECT max(sequence) FROM syncgate.push_batches WHERE flow_id = %s AND batch_id <> %s "
        "AND (%s OR NOT backfill)",
        (flow_id, other_than, backfills),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def pending(
    conn: psycopg.Connection[Any], flow_id: str, batch_id: str, limit: int, after_seq: int = 0
) -> list[Change]:
    """The next ``limit`` unconfirmed changes of a batch after ``after_seq``, in plan order."""
    # ``after_seq`` keeps each read from rescanning the changes already settled.
    rows = conn.execute(
        "SELECT batch_id, seq, op, record_key, api_id, body, idempotency_key FROM syncgate.push_changes "
        "WHERE flow_id = %s AND batch_id = %s AND seq > %s AND status = 'pending' ORDER BY seq LIMIT %s",
        (flow_id, batch_id, after_seq, limit),
    ).fetchall()
    return [Change(str(b), int(s), str(o), k, a, body, str(i)) for b, s, o, k, a, body, i in rows]


def record(conn: psycopg.Connection[Any], spec: FlowSpec, run_id: str, outcomes: list[Outcome]) -> None:
    """Store outcomes, move the mirror for confirmed changes, file rejects (caller's transaction)."""
    from psycopg.types.json import Jsonb

    from syncgate.redact import redact

    if not outcomes:
        return
    batch_id = outcomes[0].change.batch_id
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE syncgate.push_changes SET status = %s, http_status = %s, error = %s, "
            "api_id = coalesce(%s, api_id) WHERE flow_id = %s AND batch_id = %s AND seq = %s",
            [
                (
                    o.status,
                    o.http_status,
                    redact(o.reason),
                    o.api_id,
                    spec.id,
                    o.change.batch_id,
                    o.change.seq,
                )
                for o in outcomes
            ],
        )
    apply_confirmed(conn, spec, batch_id, [o.change.seq for o in outcomes if o.status == "done"])
    rejected = [o for o in outcomes if o.status == "rejected"]
    if not rejected:
        return
    records = dict(
        conn.execute(
            "SELECT seq, record FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s AND seq = ANY(%s)",
            (spec.id, batch_id, [o.change.seq for o in rejected]),
        ).fetchall()
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO syncgate.rejected_records (flow_id, run_id, batch_id, stage, record_key, reason, record) "
            "VALUES (%s, %s, %s, 'push', %s, %s, %s)",
            [
                (
                    spec.id, run_id, batch_id, Jsonb(o.change.record_key), redact(o.reason) or "rejected",
                    _masked(spec, records.get(o.change.seq)),
                )
                for o in rejected
            ],
        )  # fmt: skip


_COLUMN = {"create": "rows_inserted", "update": "rows_updated", "delete": "rows_deleted"}


def tally(conn: psycopg.Connection[Any], flow_id: str, batch_id: str) -> dict[str, int]:
    """Audit counts of a batch: confirmed changes by kind, pushed and refused requests."""
    # A change confirmed without a request (nothing to send) is not counted as pushed.
    found = conn.execute(
        "SELECT op, status, count(*) FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s "
        "AND http_status IS NOT NULL GROUP BY op, status",
        (flow_id, batch_id),
    ).fetchall()
    return _counts([(str(op), str(status), int(n)) for op, status, n in found])


def count(outcomes: list[Outcome]) -> dict[str, int]:
    """The same counts for outcomes in hand."""
    return _counts([(o.change.op, o.status, 1) for o in outcomes])


def _counts(groups: list[tuple[str, str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(
        ("rows_inserted", "rows_updated", "rows_deleted", "rows_pushed", "rows_push_failed"), 0
    )
    for op, status, n in groups:
        if status == "done":
            counts[_COLUMN[op]] += n
            counts["rows_pushed"] += n
        elif status == "rejected":
            counts["rows_push_failed"] += n
    return counts


def finish_batch(
    conn: psycopg.Connection[Any], flow_id: str, batch_id: str, status: str = "finished"
) -> None:
    """Close a batch's push: its outcomes live on in the audit row and rejected records.

    ``superseded``: a newer batch overtook it, its changes still pending are dropped unsent (the
    confirmed ones are in the mirror already)."""
    conn.execute(
        "UPDATE syncgate.push_batches SET status = %s, finished_at = now() WHERE flow_id = %s AND batch_id = %s",
        (status, flow_id, batch_id),
    )
    conn.execute(
        "DELETE FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s", (flow_id, batch_id)
    )


def pending_count(conn: psycopg.Connection[Any], flow_id: str, batch_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s AND status = 'pending'",
        (flow_id, batch_id),
    ).fetchone()
    return int(row[0]) if row else 0


def refused(conn: psycopg.Connection[Any], flow_id: str, batch_id: str) -> int:
    """How many of a batch's changes the API refused, by whichever run sent them.

    Read from the rejected records: they outlive the batch's changes, which a finished push forgets.
    """
    row = conn.execute(
        "SELECT count(*) FROM syncgate.rejected_records WHERE flow_id = %s AND batch_id = %s AND stage = 'push'",
        (flow_id, batch_id),
    ).fetchone()
    return int(row[0]) if row else 0


def batch_status(conn: psycopg.Connection[Any], flow_id: str, batch_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM syncgate.push_batches WHERE flow_id = %s AND batch_id = %s", (flow_id, batch_id)
    ).fetchone()
    return str(row[0]) if row else None


def _masked(spec: FlowSpec, record: dict[str, Any] | None) -> Any:
    """The refused record for the operator, ``pii`` and hashed columns masked."""
    from psycopg.types.json import Jsonb

    if record is None:
        return None
    pii = spec.pii_names
    return Jsonb({k: (MASK if k in pii and v is not None else v) for k, v in record.items()})
