"""The service's whole mutable state behind one lock: data, writes, idempotency keys, faults, stats."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import records
from .drift import RETYPES, Drift
from .faults import Fault, FaultQueue
from .idempotency import IdempotencyStore, Outcome, fingerprint
from .jsonbytes import dumps
from .records import Record
from .store import Key, Store
from .validation import DEFAULTS, ValidationError, check_body, validate_customer

RESOURCES = ("customers", "contacts")
OPS = ("create", "update", "replace", "delete")


@dataclass(frozen=True)
class Window:
    """One page of a list: the records (shaped for output) and their JSON array, the match count,
    whether more follow, and the last key served."""

    records: list[Record]
    total: int
    more: bool
    last: Key | None
    body: bytes


class CrmState:
    """Thread-safe: every public method takes the lock (uvicorn runs sync endpoints in threads)."""

    def __init__(self, customers: int = 1_000, contacts: int = 2_000, seed: int = 42) -> None:
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        # Called with (resource, records changed) after each applied write: the webhook sender.
        self.on_change: Callable[[str, int], None] | None = None
        self.load(customers, contacts, seed)

    # -- lifecycle -------------------------------------------------------------------------

    def load(self, customers: int, contacts: int, seed: int) -> None:
        """(Re)generate the data from ``seed`` and forget writes, keys, drift, faults and stats."""
        customer_rows = records.generate_customers(customers, seed)
        contact_rows = records.generate_contacts(contacts, customers, seed)
        with self.lock:
            self.sizes = {"customers": customers, "contacts": contacts, "seed": seed}
            self.stores = {
                "customers": Store(customer_rows, partition="status"),
                "contacts": Store(contact_rows),
            }
            self.drift = {name: Drift() for name in RESOURCES}
            self.idempotency = IdempotencyStore()
            self.writes: list[dict[str, Any]] = []
            self.requests: Counter[str] = Counter()
            self.writes_applied = 0
            self.faults.clear()
            self.faults.fired = 0
            self.touches = 0

    def reset(self) -> None:
        self.load(self.sizes["customers"], self.sizes["contacts"], self.sizes["seed"])

    # -- reads -----------------------------------------------------------------------------

    def window(
        self,
        resource: str,
        size: int,
        *,
        offset: int = 0,
        since: str | None = None,
        after: Key | None = None,
        status: str | None = None,
        email_domain: str | None = None,
    ) -> Window:
        """Records in ``(updated_at, id)`` order with ``updated_at >= since``, after ``after``, skipping ``offset``.

        ``email_domain`` keeps the records whose e-mail is at that domain (case-insensitive); it
        filters the index on each request (a scan: fine for the demo's sizes).
        """
        with self.lock:
            store = self.stores[resource]
            index = store.index(status)
            if email_domain is not None:
                index = store.matching(index, _at_domain(email_domain))
            first = index.start(since)
            start = max(first, index.start(since, after)) + offset
            rows = store.window(index, start, size)
            end = start + len(rows)
            total = len(index.keys) - first
            more = end < len(index.keys)
            last = index.keys[end - 1] if rows else None
            drift = self.drift[resource]
        if drift:
            shaped = [drift.shape(r) for r in rows]
            return Window(shaped, total, more, last, dumps(shaped))
        return Window(rows, total, more, last, store.encode(rows))

    def get(self, resource: str, record_id: int) -> Record | None:
        with self.lock:
            record = self.stores[resource].get(record_id)
            return None if record is None else self.drift[resource].shape(record)

    def all_records(self, resource: str) -> list[Record]:
        with self.lock:
            drift = self.drift[resource]
            return [drift.shape(r) for r in self.stores[resource].ordered()]

    # -- writes ----------------------------------------------------------------------------

    def write(
        self, op: str, record_id: int | None, body: Any, key: str | None = None
    ) -> tuple[Outcome, bool]:
        """Apply one customer write unless ``key`` was seen; returns the outcome and whether it is a replay."""
        with self.lock:
            digest = fingerprint(op, record_id, body)
            if key:
                seen = self.idempotency.lookup(key, digest)
                if seen is not None:
                    return seen, seen.status != 409
            outcome = self._apply(op, record_id, body)
            if 200 <= outcome.status < 300:
                self.writes_applied += 1
                self.writes.append({"id": outcome.id, "op": op, "idempotency_key": key})
                if key:
                    self.idempotency.save(key, digest, outcome)
                self._changed("customers", 1)
            return outcome, False

    def _apply(self, op: str, record_id: int | None, body: Any) -> Outcome:
        store = self.stores["customers"]
        if op not in OPS:
            return Outcome(422, record_id, error="op must be create, update or delete")
        if op == "delete":
            if record_id is None:
                return Outcome(422, None, error="id is required")
            if store.delete(record_id) is None:
                return Outcome(404, record_id, error="customer not found")
            return Outcome(204, record_id)
        try:
            fields = check_body(body, record_id)
            if op == "create":
                new_id = body.get("id") if body.get("id") is not None else record_id
                if new_id is not None and store.get(new_id) is not None:
                    return Outcome(409, new_id, error="customer already exists")
                new_id = new_id if new_id is not None else store.next_id()
                record = validate_customer({**DEFAULTS, **fields})
                created = records.now_ts()
                status = 201
            else:
                if record_id is None:
                    return Outcome(422, None, error="id is required")
                old = store.get(record_id)
                if old is None:
                    return Outcome(404, record_id, error="customer not found")
                base = old if op == "update" else DEFAULTS
                record = validate_customer({**base, **fields})
                new_id, created, status = record_id, old["created_at"], 200
        except ValidationError as exc:
            return Outcome(422, record_id, body={"error": exc.message, "field": exc.field}, error=exc.message)
        stored = {
            "id": new_id,
            **{
                k: record[k] for k in ("name", "email", "status", "tier", "lifetime_value", "address", "tags")
            },
            "created_at": created,
            "updated_at": records.now_ts(),
        }
        store.put(stored)
        return Outcome(status, new_id, body=self.drift["customers"].shape(stored))

    # -- admin -----------------------------------------------------------------------------

    def count_request(self, path: str) -> None:
        with self.lock:
            self.requests[path] += 1

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.add(fault)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            return self.faults.take(path)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "writes_applied": self.writes_applied,
                "faults_fired": self.faults.fired,
                "faults_pending": [f.public() for f in self.faults.faults],
                "records": {name: len(store) for name, store in self.stores.items()},
            }

    def touch(
        self, resource: str, ids: list[int] | None, count: int | None, at: str | None = None
    ) -> list[int]:
        """Bump ``updated_at`` (to now, or to ``at`` for a late-arriving update) and change a field."""
        with self.lock:
            store = self.stores[resource]
            if ids is None:
                self.touches += 1
                rng = random.Random(f"touch:{self.sizes['seed']}:{self.touches}")
                ids = sorted(rng.sample(sorted(store.records), min(count or 0, len(store))))
            stamp = at or records.now_ts()
            touched = []
            for record_id in ids:
                old = store.get(record_id)
                if old is None:
                    continue
                new = dict(old, updated_at=stamp)
                if resource == "customers":
                    new["tier"] = (old["tier"] or 0) % 4 + 1
                else:
                    new["phone"] = f"+1 {(record_id * 7919 + self.touches) % 10**9:09d}"
                store.put(new)
                touched.append(record_id)
            self._changed(resource, len(touched))
            return touched

    def _changed(self, resource: str, count: int) -> None:
        if self.on_change is not None and count:
            self.on_change(resource, count)

    def change_schema(self, resource: str, change: dict[str, Any]) -> dict[str, Any]:
        """Apply one drift (``add_field`` / ``drop_field`` / ``retype_field``); raises ValueError if malformed."""
        with self.lock:
            drift = self.drift[resource]
            if "add_field" in change:
                spec = change["add_field"]
                if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                    raise ValueError("add_field needs a name")
                drift.added[spec["name"]] = spec.get("value")
            elif "drop_field" in change:
                if not isinstance(change["drop_field"], str) or change["drop_field"] == "id":
                    raise ValueError("drop_field needs a field name other than id")
                drift.dropped.add(change["drop_field"])
            elif "retype_field" in change:
                spec = change["retype_field"]
                if not isinstance(spec, dict) or spec.get("to") not in RETYPES or not spec.get("name"):
                    raise ValueError(f"retype_field needs a name and to: {', '.join(RETYPES)}")
                drift.retyped[spec["name"]] = spec["to"]
            else:
                raise ValueError("give add_field, drop_field or retype_field")
            return drift.public()

    def restore_schema(self) -> None:
        with self.lock:
            self.drift = {name: Drift() for name in RESOURCES}


def _at_domain(domain: str) -> Any:
    suffix = "@" + domain.lower()

    def at(record: Record) -> bool:
        email = record.get("email")
        return isinstance(email, str) and email.lower().endswith(suffix)

    return at
