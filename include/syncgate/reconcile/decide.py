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
from syncgate.batch import fence
from syncgate.batch.run import RunInfo
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.reconcile import store
from syncgate.reconcile.leftovers import run_staging
from syncgate.reconcile.merge import DELETED, Conflict, Rule, Rules
from syncgate.reconcile.plan import Change, Planned, RecordState, adopt, plan_run
from syncgate.reconcile.records import LinesWriter, read_lines
from syncgate.reconcile.values import canonical
from syncgate.spec.sync_model import SyncSpec, SystemOfRecord, Version
from syncgate.state import audit

log = logging.getLogger(__name__)

_MARKERS = {DELETED, "(live)", "(updated)"}
# Records merged at once: bounds reconcile's memory whatever the number of changes.
MERGE_RANGE = 20_000


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
        open_parked = store.parked_keys(conn, spec.id)
        conn.commit()
    converged: list[str] = []
    keys = set(pending) | set(chosen)
    for by_key in changes.values():
        keys.update(by_key)
    rules = rules_of(spec)
    conflicts: list[tuple[str, Conflict]] = []
    to_mark: list[tuple[str, str]] = []
    to_clear: dict[str, list[str]] = {side: [] for side in spec.side_names}
    ops = {side: Counter[str]() for side in spec.side_names}
    merge_seconds = 0.0
    adopted: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
    plans = {
        side: LinesWriter(spec.side(side).view.id, f"plan-{run.key}", "plan") for side in spec.side_names
    }
    ordered = sorted(keys)
    # Key ranges bound memory: a first sync of a large table merges it range by range.
    for start_at in range(0, len(ordered), MERGE_RANGE):
        part = ordered[start_at : start_at + MERGE_RANGE]
        with connect(spec.state_conn_id) as conn:
            states = store.load_states(conn, spec.id, part, spec.side_names)
            conn.commit()
        merging = time.monotonic()  # detection and resolution alone, for the run report and the bench
        planned = plan_run(
            rules,
            side_fields,
            states,
            {side: {k: changes[side][k] for k in part if k in changes[side]} for side in spec.side_names},
            pending=[k for k in part if k in pending],
            resolutions={k: chosen[k] for k in part if k in chosen},
            now=now,
        )
        merge_seconds += time.monotonic() - merging
        for p in planned:
            conflicts.extend((p.key, c) for c in p.outcome.conflicts)
            if not p.outcome.parked and p.key in open_parked:
                converged.append(p.key)
            for side in spec.side_names:
                write = p.outcome.writes.get(side)
                if write is not None:
                    ops[side][write.op] += 1
                    to_mark.append((side, p.key))
                elif not p.outcome.parked:  # a side that already holds the merged record needs nothing
                    to_clear[side].append(p.key)
                if _settles(p, side, states.get(p.key)):
                    plans[side].write(_entry(p, side, side_keys[side].get(p.key)))
            _adopt(spec, run, states.get(p.key) or RecordState(), p, side_keys, adopted)
    shown = _shown(spec) if conflicts else None
    summary: dict[str, Any] = {"records": len(ordered), "merge_seconds": merge_seconds, "sides": {}}
    # What the plan was read from: each side's batch number (``syncgate.batch.fence``).
    basis = {spec.side(side).view.id: int(transformed[side]["sequence"]) for side in spec.side_names}
    for side in spec.side_names:
        url, _ = plans[side].close()
        summary["sides"][side] = {
            "plan": url,
            "basis": basis,
            **{op: ops[side].get(op, 0) for op in ("insert", "update", "delete")},
        }
    counts = _conflict_counts(conflicts)
    summary["conflicts"] = counts
    with connect(spec.state_conn_id) as conn, conn.transaction():
        store.lock_flow(conn, spec.id)
        fence.require_newest(conn, basis, flow_id=spec.id)  # an older plan must not move the bases
        if conflicts:
            store.log_conflicts(conn, spec.id, run.run_id, conflicts, shown, _logged_key(spec))
        store.save_rows(conn, *adopted)
        store.close_parked(conn, spec.id, [_logged_key(spec)(k) for k in converged])
        store.mark_pending(conn, spec.id, run.run_id, to_mark)
        for side, cleared in to_clear.items():
            store.clear_pending(conn, spec.id, side, cleared)
        audit.start_run(
            conn,
            spec.id,
            run.run_id,
            run_type=run.run_type,
            triggered_by=run.triggered_by,
            trigger_events=run.trigger_events,
            batch_id=run.key,
            staging_table=run_staging(spec, run),
            rows_extracted=sum(len(c) for c in changes.values()),
            transform_seconds=time.monotonic() - started,
            conflicts=counts,
        )
    summary["seconds"] = time.monotonic() - started
    log.info(
        "Flow %s: %d records merged in %.3fs, %d conflicts (%d parked); writes %s",
        spec.id, len(ordered), merge_seconds, counts["total"], counts["parked"],
        {s: {k: v for k, v in d.items() if k != "plan"} for s, d in summary["sides"].items()},
    )  # fmt: skip
    return summary


def _adopt(
    spec: SyncSpec,
    run: RunInfo,
    state: RecordState,
    planned: Planned,
    side_keys: dict[str, dict[str, Any]],
    adopted: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
) -> None:
    """The rows that commit this run's reads with its plan, before any side is written
    (``plan.adopt``): the base becomes the merged record, each side's ledger what was read there."""
    after = adopt(state, planned)
    if after.merged is not None and after.merged != state.merged:
        adopted[0].append(store.record_row(spec.id, planned.key, after, run.run_id))
    for side in spec.side_names:
        seen_key = side_keys[side].get(planned.key)
        moved = after.known.get(side) != state.known.get(side) or after.parked.get(side) != state.parked.get(
            side
        )
        if moved or seen_key is not None:
            adopted[1].append(store.ledger_row(spec.id, side, planned.key, after, seen_key))


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
        "write": None
        if write is None
        else {"op": write.op, "values": write.values, "changed": list(write.changed)},
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
