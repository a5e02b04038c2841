"""``python -m bench.run --case latency``: commit -> visible in the target, per trigger type.

Under the real scheduler with the LocalExecutor (bench/airflow_stack.py, as ``make demo`` runs
Airflow), N single-row changes (default 200) are committed to the source at random intervals
(0.2-5 s apart); a watcher polls the target every 50 ms, and each change's latency is the time
from its commit returning to the first poll that shows it (or a later value of its row). Reports
p50 / p95 / p99 / max per trigger type, and how many runs covered the changes.

Trigger types (``--trigger``, one flow each, its own table pair, one at a time):

- ``cron``: the reconciliation poll alone at its shortest interval, ``* * * * *`` (the flow
  spec's ``schedule`` is a cron expression; its timetable has a one-minute resolution);
- ``notify``: ``triggers: [{type: postgres_notify, channel: ...}]``, the notifying trigger
  installed from ``python -m syncgate notify-sql``;
- ``wal``: ``source.capture: wal`` + ``triggers: [{type: wal}]``, slot and publication from
  ``python -m syncgate cdc setup``;
- ``webhook``: ``triggers: [{type: webhook, secret_conn_id: ...}]``; after each commit the
  writer POSTs a Standard Webhooks-signed notification to ``/syncgate/webhooks/<flow id>``.

A trigger type whose engine code is not on this branch yet is reported as not available.

``--burst N`` (default 10,000; 0 skips) then commits N changes as fast as one connection can
(half updates of existing rows, half new rows), waits until the target equals the source by
checksum, and reports how many runs covered them and how long it took.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import latency_flow as lf
from bench.airflow_stack import METADATA_DB, AirflowStack
from bench.paths import STATE_DIR

TRIGGERS = ("cron", "notify", "wal", "webhook")
RESULTS = STATE_DIR / "latency.json"
POLL_SECONDS = 0.05
WEBHOOK_CONN = "lat_webhook"
# Settings the stack runs with: what scripts/demo.sh ships (BENCHMARKS.md, "Run fixed cost").
DEMO_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "syncgate.executor.PrewarmedLocalExecutor",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
}


class Unavailable(RuntimeError):
    """The engine code a trigger type needs is not on this branch (yet)."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run --case latency", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--trigger", choices=(*TRIGGERS, "all"), default="all", help="trigger type (default all)"
    )
    parser.add_argument(
        "--changes", type=int, default=200, help="single-row changes per trigger type (default 200)"
    )
    parser.add_argument("--min-gap", type=float, default=0.2, help="shortest pause between changes, s (0.2)")
    parser.add_argument("--max-gap", type=float, default=5.0, help="longest pause between changes, s (5)")
    parser.add_argument(
        "--burst", type=int, default=10_000, help="changes in the burst case (default 10,000; 0: skip)"
    )
    parser.add_argument("--debounce", default=None, help="the flows' debounce (default: the spec's default)")
    parser.add_argument(
        "--timeout", type=float, default=600, help="give up on a change after this many seconds"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Airflow env setting (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.changes < 1 or args.min_gap < 0 or args.max_gap < args.min_gap:
        parser.error("need --changes >= 1 and 0 <= --min-gap <= --max-gap")
    return args


# --- trigger types ------------------------------------------------------------------------
@dataclass
class Flow:
    trigger: str
    flow_id: str
    table: str
    spec: dict[str, Any]
    notify: Any = None  # called after each commit (webhook: sends the signed notification)
    sent: int = 0


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise Unavailable(what)


def _spec_fields() -> set[str]:
    from syncgate.spec.model import FlowSpec

    return set(FlowSpec.model_fields)


def make_flow(trigger: str, args: argparse.Namespace) -> Flow:
    flow_id, table = f"lat_{trigger}", f"items_{trigger}"
    extra: dict[str, Any] = {}
    if args.debounce is not None and trigger != "cron":
        extra["debounce"] = args.debounce
    cursor = True
    schedule = None
    if trigger == "cron":
        schedule = "* * * * *"
    else:
        _require("triggers" in _spec_fields(), "flow specs have no `triggers` yet (events helper)")
    if trigger == "notify":
        extra["triggers"] = [{"type": "postgres_notify", "channel": f"lat_{trigger}"}]
    elif trigger == "wal":
        from syncgate.connectors.postgres.spec import PostgresSource

        _require(
            "capture" in PostgresSource.model_fields, "PostgreSQL sources have no `capture` yet (wal helper)"
        )
        extra["source"] = {"capture": "wal"}
        extra["triggers"] = [{"type": "wal"}]
        cursor = False
    elif trigger == "webhook":
        try:
            import syncgate.events.webhook  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"no webhook receiver yet (webhook helper): {exc}") from exc
        extra["triggers"] = [{"type": "webhook", "secret_conn_id": WEBHOOK_CONN}]
    spec = lf.flow_spec(flow_id, table=table, schedule=schedule, cursor=cursor, extra=extra)
    return Flow(trigger, flow_id, table, spec)


def prepare(stack: AirflowStack, flow: Flow, secret: str) -> None:
    """Source table, target dropped, the trigger's source-side setup, the spec file."""
    with stack.connect(lf.SOURCE_DB) as src:
        lf.seed_source(src, table=flow.table)
    with stack.connect(lf.TARGET_DB) as dst:
        lf.drop_target(dst, table=flow.table, flow_id=flow.flow_id)
    lf.write_spec(stack.flows_dir, flow.spec)
    if flow.trigger == "notify":
        ddl = stack.syncgate("notify-sql", flow.flow_id)
        with stack.connect(lf.SOURCE_DB) as src:
            src.execute(ddl)
    elif flow.trigger == "wal":
        stack.syncgate("cdc", "setup", flow.flow_id)
    elif flow.trigger == "webhook":
        flow.notify = webhook_sender(stack, flow.flow_id, secret)


def webhook_sender(stack: AirflowStack, flow_id: str, secret: str) -> Any:
    """A function sending one signed Standard Webhooks notification per call."""
    import urllib.request

    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)
    url = f"{stack.api_url}/syncgate/webhooks/{flow_id}"

    def send(change: int) -> None:
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        body = json.dumps({"type": "items.changed", "change": change}).encode()
        signature = hook.sign(msg_id, now, body.decode())
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook refused: HTTP {response.status}")

    return send


# --- measurement ---------------------------------------------------------------------------
@dataclass
class Change:
    seq: int
    row_id: int
    qty: int
    committed: float
    visible: float | None = None


@dataclass
class Watcher:
    """Polls the target for pending changes; marks each one visible at the first poll showing it."""

    stack: AirflowStack
    table: str
    pending: list[Change] = field(default_factory=list)
    done: list[Change] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, change: Change) -> None:
        with self.lock:
            self.pending.append(change)

    def run(self) -> None:
        with self.stack.connect(lf.TARGET_DB) as conn:
            while not self.stop.is_set():
                with self.lock:
                    waiting = list(self.pending)
                if waiting:
                    seen = lf.target_qty(conn, sorted({c.row_id for c in waiting}), table=self.table)
                    now = time.monotonic()
                    with self.lock:
                        for c in waiting:
                            if seen.get(c.row_id, -1) >= c.qty:
                                c.visible = now
                                self.pending.remove(c)
                                self.done.append(c)
                time.sleep(POLL_SECONDS)


def wait_quiet(stack: AirflowStack, flow_id: str, timeout: float = 600, quiet: float = 3.0) -> None:
    """Until no run of the flow is queued or running for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    while time.monotonic() < deadline:
        active = [r for r in stack.runs(flow_id) if r["state"] in ("queued", "running")]
        if active:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
        stack.check_alive()
        time.sleep(0.5)
    raise RuntimeError(f"{flow_id}: runs still active after {timeout:.0f} s")


def wait_armed(stack: AirflowStack, flow_id: str, timeout: float = 120) -> None:
    """Until the triggerer runs every watcher of the flow's event asset (plus a moment for the
    runner to start it and fire its catch-up): a change committed before that waits for the
    arming, which says nothing about the latency of an armed flow."""
    from syncgate.events.asset import asset_name

    deadline = time.monotonic() + timeout
    with stack.connect(METADATA_DB) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*), count(t.triggerer_id) FROM asset a"
                " JOIN asset_watcher w ON w.asset_id = a.id JOIN trigger t ON t.id = w.trigger_id"
                " WHERE a.name = %s",
                (asset_name(flow_id),),
            ).fetchone()
            if row and row[0] and row[0] == row[1]:
                time.sleep(3)
                return
            stack.check_alive()
            time.sleep(0.5)
    raise RuntimeError(f"{flow_id}: the triggerer did not arm the flow's watchers within {timeout:.0f} s")


def _runs_between(stack: AirflowStack, flow_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    out = []
    for run in stack.runs(flow_id):
        started = run.get("start_date")
        if started and start <= datetime.fromisoformat(started) <= end:
            out.append(run)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_changes(stack: AirflowStack, flow: Flow, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    watcher = Watcher(stack, flow.table)
    thread = threading.Thread(target=watcher.run, name="latency-watcher", daemon=True)
    thread.start()
    started_at = datetime.now(UTC)
    changes: list[Change] = []
    try:
        with stack.connect(lf.SOURCE_DB) as src:
            for seq in range(args.changes):
                row_id = rng.randint(1, lf.SEED_ROWS)
                qty = 1_000_000 + seq
                lf.touch_row(src, row_id, qty, table=flow.table)
                change = Change(seq, row_id, qty, time.monotonic())
                watcher.add(change)
                changes.append(change)
                if flow.notify is not None:
                    flow.notify(seq)
                if seq % 20 == 0:
                    stack.check_alive()
                    print(f"   {flow.trigger}: change {seq + 1}/{args.changes}", file=sys.stderr, flush=True)
                time.sleep(rng.uniform(args.min_gap, args.max_gap))
        deadline = time.monotonic() + args.timeout
        while watcher.pending and time.monotonic() < deadline:
            stack.check_alive()
            time.sleep(0.2)
    finally:
        watcher.stop.set()
        thread.join()
    ended_at = datetime.now(UTC)
    seen = [c.visible - c.committed for c in changes if c.visible is not None]
    lost = len(changes) - len(seen)
    runs = _runs_between(stack, flow.flow_id, started_at, ended_at)
    result: dict[str, Any] = {
        "trigger": flow.trigger,
        "changes": len(changes),
        "lost": lost,
        "runs": len(runs),
    }
    if seen:
        result.update(
            p50=statistics.median(seen),
            p95=_pct(seen, 0.95),
            p99=_pct(seen, 0.99),
            max=max(seen),
            min=min(seen),
        )
    result["latencies"] = seen
    result["breakdown"] = run_breakdown(stack, flow.flow_id, runs)
    return result


def run_breakdown(stack: AirflowStack, flow_id: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a run's seconds went, medians over ``runs`` (from the metadata DB): queued -> start,
    start -> end, per task the scheduler gap (previous task's end, or the run's start, -> queued),
    the pickup (queued -> running) and the wall (running -> done); and how often runs overlapped
    (a run that started while another of the flow was still running)."""
    spans: list[tuple[datetime, datetime]] = []
    queue, walls, gaps, pickups, task_walls = [], [], [], [], {}  # type: ignore[var-annotated]
    for run in runs:
        times = stack.run_times(flow_id, run["dag_run_id"])
        if not (times["queued"] and times["start"] and times["end"]):
            continue
        spans.append((times["start"], times["end"]))
        queue.append((times["start"] - times["queued"]).total_seconds())
        walls.append((times["end"] - times["start"]).total_seconds())
        previous_end = times["start"]
        for task in stack.task_times(flow_id, run["dag_run_id"]):
            if not (task["queued"] and task["start"] and task["end"]):
                continue
            gaps.append((task["queued"] - previous_end).total_seconds())
            pickups.append((task["start"] - task["queued"]).total_seconds())
            task_walls.setdefault(task["task_id"], []).append((task["end"] - task["start"]).total_seconds())
            previous_end = task["end"]
    overlapped = sum(1 for i, (start, _) in enumerate(spans) if any(s < start < e for s, e in spans[:i]))

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    return {
        "runs": len(spans),
        "overlapped_runs": overlapped,
        "queued_to_start": median(queue),
        "run_wall_p50": median(walls),
        "run_wall_p95": round(_pct(walls, 0.95), 3) if walls else None,
        "gap_per_task": median(gaps),
        "pickup_per_task": median(pickups),
        "task_walls": {task: median(values) for task, values in task_walls.items()},
    }


def measure_burst(stack: AirflowStack, flow: Flow, count: int, timeout: float) -> dict[str, Any]:
    """``count`` single-row commits as fast as one connection goes; then until source == target."""
    rng = random.Random(count)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    with stack.connect(lf.SOURCE_DB) as src:
        for seq in range(count):
            row_id = rng.randint(1, lf.SEED_ROWS) if seq % 2 == 0 else lf.SEED_ROWS + 1 + seq
            lf.touch_row(src, row_id, 2_000_000 + seq, table=flow.table)
            if flow.notify is not None:
                flow.notify(seq)
        committed = time.monotonic() - t0
        print(
            f"   {flow.trigger}: burst of {count} committed in {committed:.1f} s", file=sys.stderr, flush=True
        )
        source = lf.fingerprint(src, "public", flow.table)
    target: tuple[int, str] | None = None
    deadline = time.monotonic() + timeout
    with stack.connect(lf.TARGET_DB) as dst:
        while time.monotonic() < deadline:
            try:
                target = lf.fingerprint(dst, "analytics", flow.table)
            except Exception:
                target = None
            if target == source:
                break
            stack.check_alive()
            time.sleep(0.2)
    caught_up = time.monotonic() - t0
    wait_quiet(stack, flow.flow_id)
    runs = _runs_between(stack, flow.flow_id, started_at, datetime.now(UTC))
    return {
        "trigger": flow.trigger,
        "changes": count,
        "commit_seconds": committed,
        "in_sync": target == source,
        "source": source,
        "target": target,
        "seconds_to_in_sync": caught_up if target == source else None,
        "runs": len(runs),
        "run_states": sorted({r["state"] for r in runs}),
    }


def run_trigger(stack: AirflowStack, trigger: str, args: argparse.Namespace, secret: str) -> dict[str, Any]:
    flow = make_flow(trigger, args)
    prepare(stack, flow, secret)
    stack.wait_for_dag(flow.flow_id)
    stack.unpause(flow.flow_id)
    # The first run copies the seed (a catch-up event or the cron tick may start one too).
    stack.trigger(flow.flow_id, f"warmup__{uuid.uuid4().hex[:8]}")
    if trigger != "cron":
        wait_armed(stack, flow.flow_id)
    wait_quiet(stack, flow.flow_id)
    print(
        f"-- {trigger}: {args.changes} changes, {args.min_gap}-{args.max_gap} s apart",
        file=sys.stderr,
        flush=True,
    )
    result = measure_changes(stack, flow, args)
    if args.burst:
        wait_quiet(stack, flow.flow_id)
        print(f"-- {trigger}: burst of {args.burst} changes", file=sys.stderr, flush=True)
        result["burst"] = measure_burst(stack, flow, args.burst, args.timeout)
    stack.api("PATCH", f"/api/v2/dags/{flow.flow_id}", {"is_paused": True})
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| trigger | changes | p50 s | p95 s | p99 s | max s | lost | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "unavailable" in r:
            lines.append(f"| {r['trigger']} | not available: {r['unavailable']} | | | | | | |")
            continue
        if "p50" not in r:
            lines.append(f"| {r['trigger']} | {r['changes']} | - | - | - | - | {r['lost']} | {r['runs']} |")
            continue
        lines.append(
            f"| {r['trigger']} | {r['changes']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} "
            f"| {r['lost']} | {r['runs']} |"
        )
    bursts = [r["burst"] for r in results if "burst" in r]
    if bursts:
        lines += [
            "",
            "| trigger | burst changes | committed in s | in sync after s | source == target | runs |",
            "|---|---|---|---|---|---|",
        ]
        for b in bursts:
            after = f"{b['seconds_to_in_sync']:.1f}" if b["seconds_to_in_sync"] is not None else "never"
            lines.append(
                f"| {b['trigger']} | {b['changes']} | {b['commit_seconds']:.1f} | {after} | "
                f"{'yes' if b['in_sync'] else 'NO'} | {b['runs']} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    triggers = TRIGGERS if args.trigger == "all" else (args.trigger,)
    base = STATE_DIR / "latency"
    base.mkdir(parents=True, exist_ok=True)
    secret = "whsec_" + __import__("base64").b64encode(__import__("os").urandom(24)).decode()
    settings = dict(DEMO_SETTINGS)
    settings.update(dict(s.split("=", 1) for s in args.setting))
    stack = AirflowStack(
        state_dir=base / "stack",
        flows_dir=Path(tempfile.mkdtemp(prefix="flows-", dir=base)),
        databases=[lf.SOURCE_DB, lf.TARGET_DB],
        connections={
            lf.SOURCE_CONN: lf.SOURCE_DB,
            lf.TARGET_CONN: lf.TARGET_DB,
            WEBHOOK_CONN: json.dumps({"conn_type": "generic", "password": secret}),
        },
        settings=settings,
        pg_dir=base / "pg",
        fresh_metadata=True,
    )
    results: list[dict[str, Any]] = []
    with stack:
        for trigger in triggers:
            try:
                results.append(run_trigger(stack, trigger, args, secret))
            except Unavailable as exc:
                print(f"-- {trigger}: not available: {exc}", file=sys.stderr, flush=True)
                results.append({"trigger": trigger, "unavailable": str(exc)})
            RESULTS.write_text(
                json.dumps({"settings": settings, "results": results}, indent=2, default=str) + "\n"
            )
    print(
        f"\n## Latency: commit -> visible in the target ({args.changes} changes, {args.min_gap}-{args.max_gap} s apart)\n"
    )
    print(table(results))
    for r in results:
        if r.get("breakdown"):
            print(f"\n{r['trigger']} runs: {json.dumps(r['breakdown'])}")
    print(f"\nsettings: {settings}\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
