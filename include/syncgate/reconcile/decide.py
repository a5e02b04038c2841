"""The reconcile stage: merge every side's changes, log the conflicts, plan each side's writes.

Runs once per sync run, between the sides' transforms and their loads. It commits only the
conflict log, the pending marks and the run's audit row: bases, ledgers and watermarks move in
each side's promote, for what that side applied.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from syncgate import settings
from syncgate.batch.run import RunInfo
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.reconcile import store
from syncgate.reconcile.merge import DELETED, Rule, Rules
from syncgate.reconcile.plan import Change, Planned, RecordState, plan_run
from syncgate.reconcile.records import read_lines, write_lines
from syncgate.reconcile.values import canonical
from syncgate.spec.sync_model import SyncSpec, SystemOfRecord, Version
from syncgate.state import audit

log = logging.getLogger(__name__)

_MARKERS = {DELETED, "(live)", "(updated)"}


def rules_of(spec: SyncSpec) -> Rules:
    return Rules(
        default=_rule(spec.conflicts.default),
        tie_break=spec.tie_break,
        fields={name: _rule(rule) for name, rule in spec.conflicts.fields.items()},
        deletes=spec.conflicts.deletes,
    )


def _rule(rule: Any) -> Rule:
    if isinstance(rule, SystemOfRecord):
        return Rule("system_of_record", side=rule.system_of_record)
    if isinstance(rule, Version):
        return Rule("version", column=rule.version)
    return Rule(rule)


def reconcile(spec: SyncSpec, run: RunInfo, transformed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge, log conflicts, land each side's plan; return the plan's summary (XCom)."""
    started = time.monotonic()
    changes: dict[str, dict[str, Change]] = {}
    side_keys: dict[str, dict[str, Any]] = {}
    for side in spec.side_names:
        changes[side], side_keys[side] = {}, {}
        for item in read_lines(transformed[side]["changes"]):
            changes[side][item["key"]] = Change(item["values"], item["at"])
            side_keys[side][item["key"]] = item["side_key"]
    side_fields = {side: frozenset(transformed[side]["fields"]) for side in spec.side_names}
    now = canonical(datetime.now(UTC))
    with connect(spec.state_conn_id) as conn:
        pending = store.pending_keys(conn, spec.id)
        chosen = store.resolutions(conn, spec.id, _logged_key(spec))
        keys = set(pending) | set(chosen)
        for by_key in changes.values():
            keys.update(by_key)
        states = store.load_states(conn, spec.id, keys, spec.side_names)
        conn.commit()
    merging = time.monotonic()  # detection and resolution alone, for the run report and the bench
    planned = plan_run(
        rules_of(spec), side_fields, states, changes, pending=pending, resolutions=chosen, now=now
    )
    merge_seconds = time.monotonic() - merging
    conflicts = [(p.key, c) for p in planned for c in p.outcome.conflicts]
    shown = _shown(spec) if conflicts else None
    summary: dict[str, Any] = {"records": len(planned), "merge_seconds": merge_seconds, "sides": {}}
    for side in spec.side_names:
        entries = (
            _entry(p, side, side_keys[side].get(p.key)) for p in planned if _settles(p, side, states.get(p.key))
        )
        url, _ = write_lines(spec.side(side).view.id, f"plan-{run.key}", "plan", entries)
        ops = Counter(p.outcome.writes[side].op for p in planned if side in p.outcome.writes)
        summary["sides"][side] = {"plan": url, **{op: ops.get(op, 0) for op in ("insert", "update", "delete")}}
    counts = _conflict_counts(conflicts)
    summary["conflicts"] = counts
    with connect(spec.state_conn_id) as conn, conn.transaction():
        if conflicts:
            store.log_conflicts(conn, spec.id, run.run_id, conflicts, shown, _logged_key(spec))
        store.mark_pending(
            conn, spec.id, run.run_id, [(s, p.key) for p in planned for s in p.outcome.writes]
        )
        for side in spec.side_names:  # a side that already holds the merged record needs nothing
            store.clear_pending(
                conn, spec.id, side, [p.key for p in planned if side not in p.outcome.writes and not p.outcome.parked]
            )
        audit.start_run(
            conn,
            spec.id,
            run.run_id,
            run_type=run.run_type,
            batch_id=run.key,
            rows_extracted=sum(len(c) for c in changes.values()),
            transform_seconds=time.monotonic() - started,
            conflicts=counts,
        )
    summary["seconds"] = time.monotonic() - started
    log.info(
        "Flow %s: %d records merged in %.3fs, %d conflicts (%d parked); writes %s",
        spec.id, len(planned), merge_seconds, counts["total"], counts["parked"],
        {s: {k: v for k, v in d.items() if k != "plan"} for s, d in summary["sides"].items()},
    )  # fmt: skip
    return summary


def _settles(planned: Planned, side: str, state: RecordState | None) -> bool:
    """Whether the side's promote has anything to do for the record: a write, a ledger entry
    that moves, or a base that changes. The echo of syncgate's own write has none of these."""
    outcome = planned.outcome
    if side in outcome.writes or outcome.parked:
        return True
    view = planned.views[side]
    if view.current != view.known:
        return True
    base = state.merged if state is not None else None
    if base is None:
        return outcome.values is not None
    return base.values != outcome.values or dict(base.origins) != outcome.origins


def _entry(planned: Planned, side: str, side_key: Any) -> dict[str, Any]:
    """What one side's load and promote need of a record's outcome."""
    outcome = planned.outcome
    view = planned.views[side]
    write = outcome.writes.get(side)
    return {
        "key": planned.key,
        "write": None if write is None else {"op": write.op, "values": write.values, "changed": list(write.changed)},
        "values": outcome.values,
        "origins": {f: [o.side, o.at] for f, o in outcome.origins.items()},
        "parked": outcome.parked,
        "known": view.known,
        "current": view.current,
        "at": view.at,
        "side_key": side_key,
    }


def _conflict_counts(conflicts: list[tuple[str, Any]]) -> dict[str, Any]:
    by_field_rule = Counter(f"{c.field}|{c.rule}" for _, c in conflicts)
    return {
        "total": len(conflicts),
        "parked": sum(1 for _, c in conflicts if c.status == "parked"),
        "by_field_rule": [
            {"field": key.split("|", 1)[0], "rule": key.split("|", 1)[1], "count": n}
            for key, n in sorted(by_field_rule.items())
        ],
    }


def _logged_key(spec: SyncSpec) -> Any:
    """How the conflict log names a record: its match values, or their keyed hash when a match
    field is pii (the log is shown in the UI and the run report)."""
    private = [f for f in spec.match_fields if f in spec.pii]
    if not private:
        return str
    hash_value = _shown(spec)
    return lambda key: hash_value(private[0], key)


def _shown(spec: SyncSpec) -> Any:
    """How the conflict log stores a value: ``pii`` fields as keyed hashes, never in clear."""
    pii = set(spec.pii)
    key = settings.hash_key() if pii else None

    def shown(field: str, value: Any) -> Any:
        if field not in pii or value is None or (isinstance(value, str) and value in _MARKERS):
            return value
        if key is None:
            raise FatalError(
                f"flow {spec.id!r} logs conflicts of pii field {field!r} but SYNCGATE_HASH_KEY is not set: "
                "refusing to keep PII in clear (or unkeyed) in the conflict log"
            )
        text = value if isinstance(value, str) else repr(value)
        return "hmac:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    return shown

