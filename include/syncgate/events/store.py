"""The flow event log (``syncgate.flow_events``, in each flow's state database).

One table serves three readers: the webhook receiver (durable de-duplication of ``webhook-id``),
the webhook event trigger (which accepted webhooks no run has been fired for yet) and the UI
(the last events a flow received, accepted or not). Every function commits its own work: a
receiver's 200 means the event is on disk, and the NOTIFY that wakes the trigger is sent by
that same commit.

The log is bounded: accepted webhook ids are kept for ``DEDUPE_DAYS`` (Standard Webhooks
senders retry one message, same id, for days) and until a trigger fired for them (a flow
paused for longer still catches up on them), every other row only the newest
``KEPT_PER_FLOW`` per flow, so refused requests from an attacker cannot grow it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

EVENTS_CHANNEL = "syncgate_flow_events"
TRIGGER_TYPES = ("webhook", "postgres_notify", "wal")
DEDUPE_DAYS = 7
KEPT_PER_FLOW = 500
# Reasons are ours (never the request's body), but a connector's message could be long.
MAX_REASON_CHARS = 300

Accepted = Literal["accepted", "duplicate"]

_COLUMNS = ("id", "trigger", "outcome", "event_id", "reason", "events", "received_at", "fired_at")


def record_webhook(conn: psycopg.Connection[Any], flow_id: str, webhook_id: str) -> Accepted:
    """Record a verified webhook once per ``webhook-id``: ``duplicate`` when it was seen before.

    A first delivery also notifies ``EVENTS_CHANNEL`` (payload: the flow id) in the same commit.
    """
    with conn.transaction():
        inserted = conn.execute(
            "INSERT INTO syncgate.flow_events (flow_id, trigger, outcome, event_id) "
            "VALUES (%s, 'webhook', 'accepted', %s) "
            "ON CONFLICT (flow_id, event_id) WHERE outcome = 'accepted' DO NOTHING RETURNING id",
            (flow_id, webhook_id),
        ).fetchone()
        if inserted is not None:
            conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, flow_id))
            _prune_accepted(conn, flow_id)
            return "accepted"
        _insert_log_row(conn, flow_id, "webhook", "duplicate", event_id=webhook_id)
    return "duplicate"


def record_refused(conn: psycopg.Connection[Any], flow_id: str, trigger: str, reason: str) -> None:
    """Log a refused signal with why (the reason is syncgate's text, never the request's body)."""
    with conn.transaction():
        _insert_log_row(conn, flow_id, trigger, "refused", reason=reason[:MAX_REASON_CHARS])


def unfired_webhooks(conn: psycopg.Connection[Any], flow_id: str) -> tuple[int, int | None]:
    """How many accepted webhooks no trigger has fired for yet, and the highest of their ids."""
    row = conn.execute(
        "SELECT count(*), max(id) FROM syncgate.flow_events "
        "WHERE flow_id = %s AND outcome = 'accepted' AND fired_at IS NULL",
        (flow_id,),
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0]), row[1]


def record_fired(
    conn: psycopg.Connection[Any],
    flow_id: str,
    trigger: str,
    events: int,
    *,
    webhooks_upto: int | None = None,
) -> None:
    """Log that a trigger fired for ``events`` signals; mark accepted webhooks up to an id as fired."""
    with conn.transaction():
        if webhooks_upto is not None:
            conn.execute(
                "UPDATE syncgate.flow_events SET fired_at = now() WHERE flow_id = %s "
                "AND outcome = 'accepted' AND fired_at IS NULL AND id <= %s",
                (flow_id, webhooks_upto),
            )
        _insert_log_row(conn, flow_id, trigger, "fired", events=events)


def last_events(conn: psycopg.Connection[Any], flow_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` events of a flow, newest first, as dicts of ``_COLUMNS``."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM syncgate.flow_events WHERE flow_id = %s ORDER BY id DESC LIMIT %s",
        (flow_id, limit),
    ).fetchall()
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def _insert_log_row(
    conn: psycopg.Connection[Any],
    flow_id: str,
    trigger: str,
    outcome: str,
    *,
    event_id: str | None = None,
    reason: str | None = None,
    events: int | None = None,
) -> None:
    conn.execute(
        "INSERT INTO syncgate.flow_events (flow_id, trigger, outcome, event_id, reason, events) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (flow_id, trigger, outcome, event_id, reason, events),
    )
    # Everything but accepted ids is history for the UI: keep the newest KEPT_PER_FLOW rows.
    conn.execute(
        "DELETE FROM syncgate.flow_events WHERE flow_id = %(flow)s AND outcome <> 'accepted' AND id < ("
        "SELECT id FROM syncgate.flow_events WHERE flow_id = %(flow)s AND outcome <> 'accepted' "
        "ORDER BY id DESC OFFSET %(kept)s LIMIT 1)",
        {"flow": flow_id, "kept": KEPT_PER_FLOW - 1},
    )


def _prune_accepted(conn: psycopg.Connection[Any], flow_id: str) -> None:
    conn.execute(
        "DELETE FROM syncgate.flow_events WHERE flow_id = %s AND outcome = 'accepted' "
        "AND fired_at IS NOT NULL AND received_at < now() - make_interval(days => %s)",
        (flow_id, DEDUPE_DAYS),
    )
