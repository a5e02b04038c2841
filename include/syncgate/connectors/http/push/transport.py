"""Send planned changes to the API with ``syncgate.connectors.http.client.ApiClient`` and classify the answers.

The client retries 429 / 5xx / dropped connections (honouring ``Retry-After``) and raises once
retries run out, which fails the task; a rerun re-sends the same idempotency keys. Statuses that
concern one record (:data:`REFUSED`) come back here and become rejects; any other 4xx (401, 403,
405, ...) means the flow itself is misconfigured and fails the task.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from syncgate.connectors.http.client import ApiClient, Response
from syncgate.connectors.http.push.progress import Change, Outcome
from syncgate.connectors.http.retry import RetryPolicy
from syncgate.connectors.http.spec import HttpRetry, HttpTarget
from syncgate.errors import FatalError

log = logging.getLogger(__name__)

# Per-record refusals: the request was understood, this record was not accepted.
REFUSED = frozenset({400, 404, 409, 410, 412, 422})
REASON_CHARS = 300


# Module level so that tests can shorten the waits; production uses the client's defaults.
def _policy(retry: HttpRetry) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        backoff_seconds=retry.backoff_seconds,
        max_backoff_seconds=retry.max_backoff_seconds,
    )


class Transport:
    """Single-record requests, or the batch protocol when ``target.batch`` is set."""

    def __init__(self, target: HttpTarget, client: ApiClient | None = None) -> None:
        self.target = target
        self.client = client or ApiClient(
            target.conn_id,
            max_requests_per_second=target.max_requests_per_second,
            timeout=target.timeout.total_seconds(),
            retry=_policy(target.retry),
        )
        self.bytes_wire = 0

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.close()

    def send(self, changes: list[Change]) -> list[Outcome]:
        """Send ``changes`` (one batch request, or one request each); one outcome per change."""
        if self.target.batch is not None:
            return self._send_batch(changes)
        return [self._send_one(change) for change in changes]

    def _send_one(self, change: Change) -> Outcome:
        method, path = self._route(change)
        headers = (
            {self.target.idempotency_header: change.idempotency_key}
            if self.target.idempotency_header
            else None
        )
        body = change.body if change.op != "delete" else None
        resp = self.client.request(method, path, json=body, headers=headers, ok_statuses=REFUSED)
        self.bytes_wire += resp.bytes_wire
        return self._outcome(change, resp.status, resp.body)

    def _send_batch(self, changes: list[Change]) -> list[Outcome]:
        assert self.target.batch is not None
        operations = []
        for change in changes:
            operation: dict[str, Any] = {"op": change.op, "id": self._id_value(change)}
            if change.op != "delete":
                operation["record"] = change.body
            if self.target.idempotency_header:
                operation["idempotency_key"] = change.idempotency_key
            operations.append(operation)
        resp: Response = self.client.request(
            "POST", self.target.batch.endpoint, json={"operations": operations}
        )
        self.bytes_wire += resp.bytes_wire
        results = resp.body.get("results") if isinstance(resp.body, dict) else None
        if not isinstance(results, list) or len(results) != len(changes):
            # Without one result per operation nothing can be confirmed: fail, a rerun re-sends the keys.
            raise FatalError(
                f"POST {resp.url}: the batch answer does not hold one result per operation "
                f"({len(changes)} sent); nothing of this batch was recorded"
            )
        outcomes = []
        for change, result in zip(changes, results, strict=True):
            result = result if isinstance(result, dict) else {}
            status = int(result.get("status") or 0)
            outcomes.append(self._outcome(change, status, result))
        return outcomes

    def _outcome(self, change: Change, status: int, body: Any) -> Outcome:
        if 200 <= status < 300:
            return Outcome(change, "done", status, api_id=self._returned_id(change, body))
        if change.op == "delete" and status in (404, 410):
            # Already gone: the state the flow wants holds (someone deleted it, or a replay).
            return Outcome(change, "done", status)
        return Outcome(change, "rejected", status, reason=self._reason(change, status, body))

    def _route(self, change: Change) -> tuple[str, str]:
        base = self.target.endpoint.rstrip("/")
        one = f"{base}/{quote(str(change.api_id), safe='')}"
        if change.op == "create":
            method = self.target.methods.create
            return method, base if method == "POST" else one
        if change.op == "update":
            return self.target.methods.update, one
        return self.target.methods.delete, one

    def _id_value(self, change: Change) -> Any:
        """The record id as the API types it: the key's JSON value when the id is a key column."""
        id_field = self.target.id_field
        if id_field and id_field in change.record_key:
            return change.record_key[id_field]
        if len(change.record_key) == 1:
            return next(iter(change.record_key.values()))
        return change.api_id

    def _returned_id(self, change: Change, body: Any) -> str | None:
        """The id the API gave a created record (the one later updates and deletes address)."""
        if change.op != "create":
            return None
        record = body.get("record", body) if isinstance(body, dict) else None
        if isinstance(record, dict):
            for name in (self.target.id_field, "id"):
                if name and record.get(name) is not None:
                    return str(record[name])
        return None

    def _reason(self, change: Change, status: int, body: Any) -> str:
        """``<status> <field>: <message>``, without secrets or the record's own values."""
        message, field = "", None
        if isinstance(body, dict):
            raw = body.get("error") or body.get("message") or body.get("detail") or ""
            message = raw if isinstance(raw, str) else str(raw)
            field = body.get("field")
        for value in _values(change.body):
            message = message.replace(value, "***")
        text = f"{status} {field}: {message}" if isinstance(field, str) else f"{status}: {message}"
        return self.client.scrub(text.strip())[:REASON_CHARS]


def _values(body: Any) -> list[str]:
    """String forms of a body's values long enough to be recognisable in an error message."""
    found: list[str] = []
    if isinstance(body, dict):
        for value in body.values():
            found += _values(value)
    elif isinstance(body, list):
        for value in body:
            found += _values(value)
    elif body is not None and not isinstance(body, bool):
        text = str(body)
        if len(text) >= 3:
            found.append(text)
    return sorted(found, key=len, reverse=True)
