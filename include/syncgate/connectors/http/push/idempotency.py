"""Idempotency keys: one stable key per planned change, so a re-sent change is never applied twice.

The key hashes (flow, batch, record key, operation, body). A retried push of the same batch
sends the same key and the API replays its stored response; a later batch that changes the
same record again gets a new key, so a legitimate repeat of an earlier body is still applied.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import sql

PREFIX = "sg1-"  # versioned: a future scheme must never collide with keys already stored by APIs


def canonical(value: Any) -> str:
    """The text PostgreSQL's ``jsonb::text`` gives for the same value (keys by length, then bytes)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def body_hash(body: Any) -> str:
    """SHA-256 of a body's canonical JSON (``""`` for a bodiless request such as DELETE)."""
    return "" if body is None else hashlib.sha256(canonical(body).encode()).hexdigest()


def idempotency_key(flow_id: str, batch_id: str, record_key: dict[str, Any], op: str, body: Any) -> str:
    """The key of one change; :func:`key_sql` computes the same in the planning query."""
    text = "|".join((flow_id, batch_id, canonical(record_key), op, body_hash(body)))
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()[:40]


def key_sql(flow_id: str, batch_id: str, record_key: str, op: str, body: str) -> sql.Composable:
    """SQL for :func:`idempotency_key` over the jsonb expressions ``record_key`` and ``body``."""
    from psycopg import sql

    def sha(expr: sql.Composable) -> sql.Composable:
        return sql.SQL("encode(sha256(convert_to({}, 'UTF8')), 'hex')").format(expr)

    body_digest = sql.SQL("coalesce({}, '')").format(sha(sql.SQL("({})::text").format(sql.SQL(body))))
    text = sql.SQL("concat_ws('|', {f}, {b}, ({k})::text, {o}, {h})").format(
        f=sql.Literal(flow_id), b=sql.Literal(batch_id), k=sql.SQL(record_key), o=sql.SQL(op), h=body_digest
    )
    return sql.SQL("{} || left({}, 40)").format(sql.Literal(PREFIX), sha(text))
