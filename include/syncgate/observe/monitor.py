"""The freshness and alert monitor: judges every flow from its target and audit trail.

It does not depend on the flows' own DAGs having run, so a stuck, paused or never-started
flow is caught too. Flows are grouped by the database holding their state (one connection
each); per database a handful of queries measure every target, read every flow's recent runs
and open incidents, and one transaction records the freshness rows and incident changes.
Notices are delivered after that commit, and marked delivered only once they were.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncgate import settings
from syncgate.db.connect import connect
from syncgate.errors import FatalError, SyncgateError
from syncgate.observe import incidents
from syncgate.observe.first_sync import record_and_read
from syncgate.observe.messages import render
from syncgate.observe.notifiers import deliver
from syncgate.observe.probe import newest_values
from syncgate.observe.retained_wal import measure_slots, retained_wal_finding
from syncgate.observe.rules import RunRow, evaluate
from syncgate.spec.alerts import Alerts, resolve_alerts
from syncgate.spec.loader import load_defaults, load_specs
from syncgate.spec.model import FlowSpec
from syncgate.state import leases
from syncgate.state.freshness import freshness_row, measure
from syncgate.state.schema import ensure_state_schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

    from syncgate.spec.sync_model import SyncSpec

log = logging.getLogger(__name__)

# Runs read per flow beyond what the rules need (failed runs thin out the successful ones).
_SPARE_RUNS = 5


@dataclass
class MonitorResult:
    """What one monitor run saw and did (JSON-safe, the task's return value)."""

    flows: int = 0
    databases: int = 0
    freshness: dict[str, int] = field(default_factory=dict)
    open_incidents: int = 0
    notices: list[dict[str, Any]] = field(default_factory=list)
    delivery_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # databases another monitor run was checking

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_monitor(folder: Path | None = None, now: datetime | None = None) -> MonitorResult:
    """Load the specs and the defaults file, then monitor every valid flow.

    Raises:
        SpecError: the defaults file is invalid (names file and field).
        FatalError: a database could not be checked, or a notice could not be delivered at all
            (after everything else was done, so one bad channel does not hide other alerts).
    """
    folder = folder or settings.flows_dir()
    defaults = load_defaults(folder).alerts
    loaded = load_specs(folder)
    broken = [item.path.name for item in loaded if item.spec is None]
    if broken:  # their DAG import errors say why; they cannot be judged without a valid spec
        log.warning("Not monitored (invalid spec): %s", ", ".join(broken))
    specs = [item.spec for item in loaded if item.spec is not None]
    result = monitor(specs, defaults, now)
    if result.errors or result.delivery_failures:
        raise FatalError(
            "monitor incomplete:\n" + "\n".join(f"  - {e}" for e in result.errors + result.delivery_failures)
        )
    return result


def check_flow(spec: FlowSpec | SyncSpec) -> MonitorResult:
    """Judge one flow at once (a flow task's failure callback): a failure streak alerts without
    waiting for the monitor's next tick. Same rules and incidents, so nothing is sent twice."""
    return monitor([spec], load_defaults(settings.flows_dir()).alerts)


def monitor(
    specs: Sequence[FlowSpec | SyncSpec],
    defaults: Alerts,
    now: datetime | None = None,
    base_url: str | None = None,
) -> MonitorResult:
    """Check every flow once; never raises for one database or channel failing."""
    now = now or datetime.now(UTC)
    base_url = airflow_base_url() if base_url is None else base_url
    policies = {s.id: resolve_alerts(defaults, s.alerts) for s in specs}
    groups: dict[str, list[FlowSpec | SyncSpec]] = defaultdict(list)
    for spec in specs:
        groups[spec.state_conn_id].append(spec)
    result = MonitorResult(flows=len(specs), databases=len(groups))
    statuses: Counter[str] = Counter()
    # Measured before any state transaction: the source may be slow or down.
    slots, orphans = measure_slots(specs)
    for conn_id in sorted(groups):
        try:
            _check_database(conn_id, groups[conn_id], policies, now, base_url, result, statuses, slots)
        except (SyncgateError, _db_errors()) as exc:
            # The first line only: server messages name objects, their DETAIL may hold values.
            first = str(exc).splitlines()[0] if str(exc) else ""
            result.errors.append(f"database {conn_id!r}: {type(exc).__name__}: {first}")
            log.error("Monitor could not check the flows on %r: %s", conn_id, type(exc).__name__)
    _check_orphans(orphans, specs, defaults, now, base_url, result)
    result.freshness = dict(sorted(statuses.items()))
    log.info(
        "Monitored %d flows on %d databases: freshness %s, %d open incidents, %d notices",
        result.flows, result.databases, result.freshness, result.open_incidents, len(result.notices),
    )  # fmt: skip
    return result


def _check_database(
    conn_id: str,
    flows: list[FlowSpec | SyncSpec],
    policies: dict[str, Alerts],
    now: datetime,
    base_url: str,
    result: MonitorResult,
    statuses: Counter[str],
    slots: dict[str, Any] | None = None,
) -> None:
    ids = [s.id for s in flows]
    with connect(conn_id) as conn:
        ensure_state_schema(conn)  # one version read; DDL only on a database never migrated
        # One monitor at a time per database (the monitor DAG and failure callbacks overlap):
        # it reads incidents, decides and notifies as one step, so two would notify twice.
        # Held until the connection closes, after the notices are sent.
        locked = conn.execute("SELECT pg_try_advisory_lock(hashtext('syncgate.monitor'))").fetchone()
        if not (locked and locked[0]):
            conn.commit()
            log.info("Another monitor run is checking the flows on %r right now: skipped", conn_id)
            result.skipped.append(conn_id)
            return
        conn.commit()
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = '60s'")  # a huge unindexed target must not hang it
            # A run whose task died holds no lease any more: it counts as the failure it is
            # (its leftovers go with the flow's next run, which may be far off). A run without a
            # lease (older syncgate) stays the stuck run the duration rule reports.
            for spec in flows:
                if isinstance(spec, FlowSpec):
                    leases.reap(conn, spec.id, keep="", leaseless=False)
            probes = newest_values(conn, [s for s in flows if isinstance(s, FlowSpec) and s.freshness])
            history = _history(conn, ids, max(_runs_needed(policies[i]) for i in ids))
            open_now = incidents.read_open(conn, ids)
            first_syncs = record_and_read(conn, ids, now)
            notices = incidents.owed_recoveries(conn, ids, now)
            rows = []
            for spec in flows:
                policy = policies[spec.id]
                measured = probe = None
                if isinstance(spec, FlowSpec) and spec.freshness:
                    probe = probes[spec.id]
                    measured = measure(spec, probe.newest, now)
                    statuses[str(measured.status)] += 1
                    rows.append(
                        freshness_row(spec.id, spec.freshness.max_age, spec.freshness.warn_age, measured,
                                      "monitor", None, now)
                    )  # fmt: skip
                findings = evaluate(spec, policy, measured, history.get(spec.id, []), now,
                                    probe.problem if probe else None, first_syncs.get(spec.id))  # fmt: skip
                findings.append(retained_wal_finding(spec.id, policy, (slots or {}).get(spec.id), now))
                for finding in findings:
                    notice = incidents.reconcile(
                        conn, finding, open_now.get((spec.id, finding.kind)), policy.renotify_every, now
                    )
                    if notice is not None:
                        notices.append(notice)
                result.open_incidents += sum(1 for f in findings if f.active)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO syncgate.freshness (flow_id, checked_at, checked_by, run_id, high_water_mark, "
                    "lag_seconds, max_age_seconds, warn_age_seconds, status) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    rows,
                )
            # Per flow, so the (flow_id, checked_at) primary key index finds the old rows.
            conn.execute(
                "DELETE FROM syncgate.freshness WHERE flow_id = ANY(%s) AND checked_at < %s",
                (ids, now - timedelta(days=settings.freshness_keep_days())),
            )
        for notice in notices:
            _send(conn, notice, policies[notice.flow_id], base_url, now, result)


def _check_orphans(
    orphans: dict[str, Any], specs: Sequence[FlowSpec | SyncSpec], defaults: Alerts, now: datetime,
    base_url: str, result: MonitorResult,
) -> None:  # fmt: skip
    """Slots no current wal flow owns (a deleted flow's): an incident under the id their name
    carries, on the state database of the first flow reading that source, with the defaults."""
    if not orphans:
        return
    home = next((s.state_conn_id for s in specs if isinstance(s, FlowSpec)), None)
    if home is None:
        return
    try:
        with connect(home) as conn:
            notices = []
            with conn.transaction():
                open_now = incidents.read_open(conn, sorted(orphans))
                for flow_id, status in sorted(orphans.items()):
                    finding = retained_wal_finding(flow_id, defaults, status, now, orphan=True)
                    notice = incidents.reconcile(
                        conn, finding, open_now.get((flow_id, "retained_wal")), defaults.renotify_every, now
                    )
                    if notice is not None:
                        notices.append(notice)
                    result.open_incidents += int(finding.active)
            for notice in notices:
                _send(conn, notice, defaults, base_url, now, result)
    except (SyncgateError, _db_errors()) as exc:
        result.errors.append(f"orphaned slots on {home!r}: {type(exc).__name__}")


def _send(
    conn: psycopg.Connection[Any], notice: incidents.Notice, policy: Alerts, base_url: str,
    now: datetime, result: MonitorResult,
) -> None:  # fmt: skip
    entry = {
        "flow_id": notice.flow_id,
        "kind": notice.kind,
        "event": notice.event,
        "severity": notice.severity,
    }
    if not policy.notifiers:  # recorded in syncgate.incidents only; nobody was told
        result.notices.append({**entry, "delivered": False, "notifiers": 0})
        return
    failed = deliver(policy.notifiers, render(notice, base_url))
    delivered = len(failed) < len(policy.notifiers)
    result.notices.append({**entry, "delivered": delivered, "notifiers": len(policy.notifiers)})
    if failed and not delivered:
        result.delivery_failures.extend(f"{notice.flow_id} {notice.kind} {notice.event}: {f}" for f in failed)
    elif failed:
        log.warning("Notice for %s delivered by some notifiers only: %s", notice.flow_id, failed)
    if delivered:
        incidents.mark_delivered(conn, notice, now)
        conn.commit()


def _runs_needed(policy: Alerts) -> int:
    spike = policy.lag_spike.window + 1 if policy.lag_spike else 1
    return max(spike, policy.consecutive_failures or 0) + _SPARE_RUNS


def _history(conn: psycopg.Connection[Any], flow_ids: list[str], limit: int) -> dict[str, list[RunRow]]:
    """Each flow's newest runs, newest first; backfills are operator work, watched by the operator."""
    rows = conn.execute(
        """
        SELECT f.flow_id, r.run_id, r.status, r.started_at, r.finished_at, r.lag_seconds
        FROM unnest(%s::text[]) AS f(flow_id)
        CROSS JOIN LATERAL (
            SELECT run_id, status, started_at, finished_at, lag_seconds FROM syncgate.sync_runs s
            WHERE s.flow_id = f.flow_id AND s.run_type IS DISTINCT FROM 'backfill'
            ORDER BY s.started_at DESC LIMIT %s
        ) r
        ORDER BY f.flow_id, r.started_at DESC
        """,
        (flow_ids, limit),
    ).fetchall()
    history: dict[str, list[RunRow]] = defaultdict(list)
    for flow_id, *values in rows:
        history[flow_id].append(RunRow(*values))
    return history


def airflow_base_url() -> str:
    """The Airflow UI's base URL (``[api] base_url``), for links in alerts; '' when unset."""
    from airflow.sdk import conf

    return str(conf.get("api", "base_url", fallback="") or "").rstrip("/")


def _db_errors() -> type[Exception]:
    import psycopg

    return psycopg.Error
