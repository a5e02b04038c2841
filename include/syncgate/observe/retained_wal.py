"""The retained-WAL rule of wal flows: a replication slot that holds back the source's WAL.

A logical slot keeps every WAL segment its consumer has not confirmed. A wal flow confirms
after each promote, so a slot that retains much, or whose oldest waiting change is old, means
the flow stopped running (paused DAG, failing runs, deleted flow): the source's disk fills up.
Slots named like a flow's (``syncgate_<id>``) that no current wal flow owns are reported too,
on every source connection a monitored PostgreSQL flow uses.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncgate.connectors.postgres.cdc.names import PREFIX, slot_name
from syncgate.connectors.postgres.cdc.status import SlotStatus, slot_status
from syncgate.db.connect import connect
from syncgate.observe.rules import Finding, human
from syncgate.spec.alerts import Alerts, RetainedWal
from syncgate.spec.model import FlowSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from syncgate.spec.sync_model import SyncSpec

log = logging.getLogger(__name__)


def is_wal_flow(spec: FlowSpec | SyncSpec) -> bool:
    return isinstance(spec, FlowSpec) and getattr(spec.source, "capture", "cursor") == "wal"


def measure_slots(
    specs: Sequence[FlowSpec | SyncSpec],
) -> tuple[dict[str, SlotStatus | str], dict[str, SlotStatus]]:
    """Each wal flow's slot (or why it could not be measured), and the orphaned slots by the id
    their name carries. One connection per source database; a failure is the flow's finding."""
    by_conn: dict[str, list[FlowSpec]] = defaultdict(list)
    for spec in specs:
        # Sources that can capture from a log (have ``capture``) are where flows' slots live.
        if isinstance(spec, FlowSpec) and getattr(spec.source, "capture", None) is not None:
            by_conn[spec.source.conn_id].append(spec)
    measured: dict[str, SlotStatus | str] = {}
    orphans: dict[str, SlotStatus] = {}
    for conn_id, flows in sorted(by_conn.items()):
        owned = {slot_name(s.id) for s in flows if is_wal_flow(s)}
        try:
            with connect(conn_id) as conn:
                conn.autocommit = True
                for spec in flows:
                    if is_wal_flow(spec):
                        measured[spec.id] = slot_status(conn, slot_name(spec.id))
                stray = conn.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical' "
                    "AND database = current_database() AND starts_with(slot_name, %s) ORDER BY 1",
                    (PREFIX,),
                ).fetchall()
                for (name,) in stray:
                    if name not in owned:
                        orphans[name.removeprefix(PREFIX)] = slot_status(conn, name)
        except Exception as exc:  # an unreachable source is this rule's finding, not the monitor's end
            for spec in flows:
                if is_wal_flow(spec):
                    measured[spec.id] = (
                        f"source connection {conn_id!r} could not be checked ({type(exc).__name__})"
                    )
            log.warning("Retained WAL: could not check source %r: %s", conn_id, type(exc).__name__)
    return measured, orphans


def retained_wal_finding(
    flow_id: str, alerts: Alerts, status: SlotStatus | str | None, now: datetime, *, orphan: bool = False
) -> Finding:
    """Active when the slot retains more than ``max_bytes`` or a change has waited over ``max_age``."""
    rule = alerts.retained_wal
    if rule is None or status is None:
        return Finding(flow_id, "retained_wal", False)
    if isinstance(status, str):
        return Finding(
            flow_id, "retained_wal", True, "warning", f"slot not measured: {status}", {"reason": status}
        )
    if not status.exists:
        return Finding(
            flow_id, "retained_wal", True, "warning",
            f"replication slot {status.slot} is missing: runs fail until `python -m syncgate cdc setup {flow_id}`",
            {"slot": status.slot},
        )  # fmt: skip
    return _judge(flow_id, rule, status, now, orphan)


def _judge(flow_id: str, rule: RetainedWal, status: SlotStatus, now: datetime, orphan: bool) -> Finding:
    age = (now - status.pending_since).total_seconds() if status.pending_since else None
    details: dict[str, Any] = {
        "slot": status.slot,
        "retained_bytes": status.retained_bytes,
        "max_bytes": rule.max_bytes,
        "pending_seconds": round(age, 1) if age is not None else None,
        "max_age_seconds": rule.max_age.total_seconds(),
        "orphaned": orphan,
    }
    problems = []
    if status.retained_bytes is not None and status.retained_bytes > rule.max_bytes:
        problems.append(
            f"retains {_size(status.retained_bytes)} of WAL (alert above {_size(rule.max_bytes)})"
        )
    if age is not None and age > rule.max_age.total_seconds():
        problems.append(
            f"has had a change waiting for {human(age)} (alert above {human(rule.max_age.total_seconds())})"
        )
    if not problems:
        return Finding(flow_id, "retained_wal", False)
    what = f"replication slot {status.slot} " + " and ".join(problems)
    if orphan:
        what += f"; no flow uses it: drop it with `SELECT pg_drop_replication_slot('{status.slot}')`"
    return Finding(flow_id, "retained_wal", True, "critical", what, details)


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"
