"""Idempotency keys: a repeated key replays the stored outcome, a reused key with another body is 409."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What a write returned: HTTP status, the record id, the response body (None for 204)."""

    status: int
    id: int | None
    body: Any = None
    error: str | None = None


def fingerprint(op: str, record_id: int | None, record: Any) -> str:
    """A stable digest of what a write asks for, independent of JSON key order."""
    canonical = json.dumps([op, record_id, record], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """Outcomes of applied writes by key; not locked itself (the state's lock covers it).

    Only applied (2xx) writes are stored, as in Stripe's API: a rejected request (404, 409,
    422) changed nothing, so the client may correct it and retry under the same key.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, Outcome]] = {}

    def lookup(self, key: str, digest: str) -> Outcome | None:
        """The stored outcome for ``key``, a 409 outcome if it was used for another request, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_digest, outcome = entry
        if stored_digest != digest:
            return Outcome(409, outcome.id, error="idempotency key was already used for a different request")
        return outcome

    def save(self, key: str, digest: str, outcome: Outcome) -> None:
        if 200 <= outcome.status < 300:
            self._entries[key] = (digest, outcome)

    def clear(self) -> None:
        self._entries.clear()
