"""An HTTP API as a side of a sync flow: single records created, updated and deleted by id.

The requests follow the HTTP target's push conventions (``target.methods``: create ``POST
{endpoint}`` or ``PUT {endpoint}/{id}``, update ``PATCH`` (the changed fields) or ``PUT`` (the
whole record) ``{endpoint}/{id}``, delete ``DELETE {endpoint}/{id}``; ``id_field``; the
idempotency header) and go through the connector's ``ApiClient`` (the connection's auth,
retries of 429 / 5xx / dropped connections, the rate limit, secrets masked in errors). A side
always writes record by record, even with ``target.batch``: only a single create answers with
the record, and so with the id the API minted for it.

- An insert without a key lets the API mint the id: ``POST {endpoint}``, and the id (and the
  record, flattened to the side's columns as the HTTP source reads it) come from the answer.
  syncgate records that id in its cross-reference (``syncgate.sync_ledger.side_key``), so later
  updates go to the same API record.
- An insert whose key the API already holds (409) updates it, and an update of a record the API
  no longer has (404 / 410) creates it again: the API is left holding the merged record, and a
  retried apply is safe.
- Deleting a record the API does not have (404 / 410) is done: it is gone already.
- A record the API refuses (any other 4xx) fails the apply with an error naming the record's
  id, never its values; the other records of the apply are still sent, and a rerun replays
  them under the same idempotency keys.

``read_until`` cannot be enforced: a generic JSON API offers no compare-and-set on its change
clock, so every write is applied. An edit made on the API after this run read it may be
overwritten, but it is not lost from the merge's view: the next run reads the record (its
cursor moved) and the echo ledger compares content, not cursor values, so that edit is still
seen and merged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from syncgate.connectors.base import RecordResult, RecordWrite
from syncgate.connectors.http.client import ApiClient, Response
from syncgate.connectors.http.coerce import CoerceError, coerce, infer_type, json_kind
from syncgate.connectors.http.push.idempotency import idempotency_key
from syncgate.connectors.http.push.transport import REASON_CHARS, REFUSED
from syncgate.connectors.http.records import MISSING, Flattener
from syncgate.connectors.http.retry import RetryPolicy
from syncgate.errors import FatalError

if TYPE_CHECKING:
    from syncgate.connectors.http.spec import HttpSource, HttpTarget
    from syncgate.spec.model import FlowSpec

log = logging.getLogger(__name__)

GONE = frozenset({404, 410})
MAX_NAMED = 20  # refused records named in the error; the count covers them all


def write_records(
    flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None
) -> list[RecordResult]:
    """Apply ``writes`` to the side's API in order (see ``RecordWriter.write_records``)."""
    if not writes:
        return []
    source: HttpSource = flow.source  # type: ignore[assignment]
    target: HttpTarget = flow.target  # type: ignore[assignment]
    side = _Side(flow.id, source, target, flow.target_id_field, read_until, _landed_types(flow))
    client = ApiClient(
        target.conn_id,
        max_requests_per_second=target.max_requests_per_second,
        timeout=target.timeout.total_seconds(),
        retry=RetryPolicy(
            max_attempts=target.retry.max_attempts,
            backoff_seconds=target.retry.backoff_seconds,
            max_backoff_seconds=target.retry.max_backoff_seconds,
        ),
    )
    results: list[RecordResult] = []
    refused: list[str] = []
    with client:
        for number, write in enumerate(writes, start=1):
            result = side.apply(client, write)
            if isinstance(result, _Refusal):
                refused.append(f"{side.describe(write, number)}: {result.reason}")
                results.append(RecordResult(False, write.key))
            else:
                results.append(result)
    if refused:
        shown = "; ".join(refused[:MAX_NAMED]) + (
            f"; and {len(refused) - MAX_NAMED} more" if len(refused) > MAX_NAMED else ""
        )
        raise FatalError(
            f"side {flow.id!r}: the API refused {len(refused)} of {len(writes)} record write(s): {shown}. "
            "The others were applied; a rerun sends them again under the same idempotency keys"
        )
    log.info("Side %s: %d record write(s) applied through %s", flow.id, len(results), target.endpoint)
    return results


@dataclass(frozen=True)
class _Refusal:
    reason: str


class _Side:
    """One side's requests: routes, bodies, and the answers read back as the source reads them."""

    def __init__(
        self,
        flow_id: str,
        source: HttpSource,
        target: HttpTarget,
        id_field: str,
        read_until: str | None,
        landed_types: dict[str, str],
    ) -> None:
        if len(source.primary_key) != 1:
            raise FatalError(
                f"side {flow_id!r}: an API side needs a one-column `primary_key` (the record id)"
            )
        self.flow_id = flow_id
        self.source = source
        self.target = target
        self.key_column = source.primary_key[0]
        self.id_field = id_field
        self.read_until = read_until or ""
        declared = source.field_paths()
        self.paths = {name: path for name, (path, _) in declared.items()}
        self.types = {**landed_types, **{name: pg_type for name, (_, pg_type) in declared.items() if pg_type}}
        self.flatten = Flattener(self.paths, top_level=True)

    # -- one write ---------------------------------------------------------------------------

    def apply(self, client: ApiClient, write: RecordWrite) -> RecordResult | _Refusal:
        if write.op == "delete":
            return self._delete(client, write)
        if write.op == "insert":
            return self._create(client, write)
        return self._update(client, write)

    def _create(self, client: ApiClient, write: RecordWrite) -> RecordResult | _Refusal:
        record_id = None if write.key is None else write.key.get(self.key_column)
        body = self._body(write.values, record_id)
        method = self.target.methods.create if record_id is not None else "POST"
        path = self._one(record_id) if method == "PUT" else self._base()
        resp = self._send(client, method, path, body, write)
        if resp.status == 409 and record_id is not None:
            # The API holds that id already: inserting an existing key updates it.
            return self._update(client, write)
        if not 200 <= resp.status < 300:
            return self._refusal(client, resp, body)
        return self._result(resp, record_id)

    def _update(self, client: ApiClient, write: RecordWrite) -> RecordResult | _Refusal:
        record_id = None if write.key is None else write.key.get(self.key_column)
        if record_id is None:
            return self._create(client, RecordWrite("insert", None, write.values, write.changed))
        method = self.target.methods.update
        changed = [c for c in write.changed if c in write.values] if method == "PATCH" else []
        values = {c: write.values[c] for c in changed} if changed else write.values
        body = self._body(values, record_id if method == "PUT" else None)
        resp = self._send(client, method, self._one(record_id), body, write)
        if resp.status in GONE:
            # Gone from the API while the merged record lives: create it again, under the same id
            # where the client chooses ids (`methods.create: PUT`), else under one the API mints.
            log.warning("Side %s: record %s is gone from the API; creating it again", self.flow_id, record_id)
            key = write.key if self.target.methods.create == "PUT" else None
            return self._create(client, RecordWrite("insert", key, write.values, write.changed))
        if not 200 <= resp.status < 300:
            return self._refusal(client, resp, body)
        return self._result(resp, record_id)

    def _delete(self, client: ApiClient, write: RecordWrite) -> RecordResult | _Refusal:
        record_id = None if write.key is None else write.key.get(self.key_column)
        if record_id is None:
            return RecordResult(True, None)  # never held under an id: nothing to delete
        resp = self._send(client, self.target.methods.delete, self._one(record_id), None, write)
        if 200 <= resp.status < 300 or resp.status in GONE:
            return RecordResult(True, write.key)
        return self._refusal(client, resp, None)

    # -- requests ----------------------------------------------------------------------------

    def _base(self) -> str:
        return self.target.endpoint.rstrip("/")

    def _one(self, record_id: Any) -> str:
        return f"{self._base()}/{quote(str(record_id), safe='')}"

    def _send(self, client: ApiClient, method: str, path: str, body: Any, write: RecordWrite) -> Response:
        headers = None
        if self.target.idempotency_header:
            # Stable across retries of this apply (same read position, same request), new for a
            # later run's write of the same record: the API replays, never applies twice.
            key = idempotency_key(
                self.flow_id, f"side:{self.read_until}", write.key or {}, f"{method} {path}", body
            )
            headers = {self.target.idempotency_header: key}
        return client.request(method, path, json=body, headers=headers, ok_statuses=REFUSED | GONE)

    def _body(self, values: dict[str, Any], record_id: Any) -> dict[str, Any]:
        """The JSON body: columns at their source paths (``address.city`` nests), the id when given."""
        fields = self.target.fields
        body: dict[str, Any] = {}
        for column, value in values.items():
            if column == self.key_column or (fields is not None and column not in fields):
                continue
            _put(body, self.paths.get(column, column), _spelled(value, self.types.get(column)))
        if record_id is not None:
            body[self.id_field] = record_id
        return body

    # -- answers -----------------------------------------------------------------------------

    def _result(self, resp: Response, record_id: Any) -> RecordResult:
        """The record's id (minted by a create) and the record as the source would read it."""
        record = _record_of(resp.body)
        row = self._row(record) if record is not None else None
        minted = row.get(self.key_column) if row is not None else None
        if minted is None:
            minted = record_id if record_id is not None else _location_id(resp.headers)
        if minted is None:
            raise FatalError(
                f"side {self.flow_id!r}: {resp.url} answered HTTP {resp.status} without the created record "
                f"or its `{self.key_column}`: syncgate cannot address the record it created"
            )
        return RecordResult(True, {self.key_column: minted}, row)

    def _row(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """``record`` flattened and coerced as the HTTP source lands it; None when it would not land."""
        row = self.flatten(record)
        columns = self.source.columns
        if columns is not None:
            row = {c: v for c, v in row.items() if c in columns}
        try:
            return {c: _landed(v, self.types.get(c)) for c, v in row.items() if v is not MISSING}
        except CoerceError:
            return None  # the source would reject it; the ledger keeps what was written instead

    def _refusal(self, client: ApiClient, resp: Response, body: Any) -> _Refusal:
        """``HTTP <status> <field>: <message>``, without the record's values or secrets."""
        message, field = "", None
        if isinstance(resp.body, dict):
            raw = resp.body.get("error") or resp.body.get("message") or resp.body.get("detail") or ""
            message = raw if isinstance(raw, str) else str(raw)
            field = resp.body.get("field")
        for value in sorted(_strings(body), key=len, reverse=True):
            message = message.replace(value, "***")
        text = (
            f"HTTP {resp.status}"
            + (f" {field}" if isinstance(field, str) else "")
            + (f": {message}" if message else "")
        )
        return _Refusal(client.scrub(text)[:REASON_CHARS])

    def describe(self, write: RecordWrite, number: int) -> str:
        if write.key is None:
            return f"{write.op} of a new record (write {number} of this apply)"
        return f"{write.op} of {self.key_column}={write.key.get(self.key_column)}"


def _landed_types(flow: FlowSpec) -> dict[str, str]:
    """The column types the side's reads land (the source's last-seen schema), so that the
    records written read back exactly as the next extract will read them."""
    from syncgate.db.connect import connect
    from syncgate.state.source_schemas import read_source_schema

    with connect(flow.target.state_connection()) as conn:
        schema = read_source_schema(conn, flow.id) or {}
    return {name: str(info["type"]) for name, info in schema.items() if info.get("type")}


def _landed(value: Any, pg_type: str | None) -> Any:
    """The value as the source lands it: coerced to its declared type, else to the inferred one."""
    return coerce(value, pg_type or infer_type(json_kind(value)))


def _spelled(value: Any, pg_type: str | None) -> Any:
    """Exact decimals travel as decimal strings, at the declared scale ("750.00"): a JSON number
    would pass through binary floating point on the way."""
    if (
        value is None
        or isinstance(value, bool)
        or not pg_type
        or not pg_type.startswith(("numeric", "decimal"))
    ):
        return value
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return value
    _, _, modifiers = pg_type.partition("(")
    scale = modifiers.rstrip(")").split(",")[1].strip() if "," in modifiers else None
    if scale is not None and scale.isdigit() and number.is_finite():
        number = number.quantize(Decimal(1).scaleb(-int(scale)))
    return format(number, "f")


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _record_of(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    inner = body.get("record")
    return inner if isinstance(inner, dict) else body


def _location_id(headers: Any) -> Any:
    """The last path segment of a ``Location`` header (``/v1/customers/42`` -> 42), when there is one."""
    location = next((v for k, v in (headers or {}).items() if k.lower() == "location"), None)
    if not location:
        return None
    segment = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return int(segment) if segment.isdigit() else segment or None


def _strings(body: Any) -> list[str]:
    """String forms of a body's values long enough to be recognised in an error message."""
    if isinstance(body, dict):
        return [s for v in body.values() for s in _strings(v)]
    if isinstance(body, list):
        return [s for v in body for s in _strings(v)]
    if body is None or isinstance(body, bool):
        return []
    text = str(body)
    return [text] if len(text) >= 3 else []
