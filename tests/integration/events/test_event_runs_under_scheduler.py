"""Event-triggered runs under the real scheduler and triggerer (bench/airflow_stack.py).

No Trigger is pressed: the notify watcher's catch-up on arm runs the flow, an insert runs it
again, a burst of separate commits is coalesced into fewer runs that together account for every
notification, and an accepted webhook runs it and is marked fired. Skipped where the harness
is not in the tree.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from scheduler_stack import flows_stack, until

pytestmark = pytest.mark.integration

FLOW = "ev_orders"
SPEC = f"""
id: {FLOW}
retries: 0
triggers:
  - {{type: postgres_notify, channel: ev_orders}}
  - {{type: webhook, secret_conn_id: ev_hook}}
debounce: 1s
source: {{type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], cursor: updated_at}}
target: {{type: postgres, conn_id: dst_db, table: public.orders}}
"""
BURST = 200


def test_events_run_the_flow_under_the_scheduler(tmp_path: Path) -> None:
    from syncgate.cli.notify import notify_sql
    from syncgate.events import store
    from syncgate.spec.loader import load_spec

    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{FLOW}.yml").write_text(textwrap.dedent(SPEC))
    stack = flows_stack(tmp_path, flows)
    with stack:
        with stack.connect("src") as src:
            src.execute("DROP TABLE IF EXISTS public.orders CASCADE")
            src.execute(
                "CREATE TABLE public.orders (id int PRIMARY KEY, note text, "
                "updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            src.execute("INSERT INTO public.orders (id, note) SELECT g, 'seed' FROM generate_series(1, 10) g")
            src.execute(notify_sql(load_spec(flows / f"{FLOW}.yml")))
        with stack.connect("dst") as dst:
            dst.execute("DROP SCHEMA IF EXISTS syncgate CASCADE; DROP TABLE IF EXISTS public.orders")

        def finished_runs() -> list[dict[str, Any]]:
            runs = stack.runs(FLOW)
            return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else []

        def target_rows() -> int:
            with stack.connect("dst") as dst:
                found = dst.execute("SELECT to_regclass('public.orders') IS NOT NULL").fetchone()
                return int(dst.execute("SELECT count(*) FROM public.orders").fetchone()[0]) if found[0] else 0

        def audit() -> list[tuple[Any, ...]]:
            with stack.connect("dst") as dst:
                return dst.execute(
                    "SELECT run_id, triggered_by, trigger_events, status FROM syncgate.sync_runs ORDER BY started_at"
                ).fetchall()

        stack.wait_for_dag(FLOW)
        stack.unpause(FLOW)
        # Armed: the notify watcher's catch-up runs the flow without anyone pressing Trigger.
        first = until(finished_runs, "the catch-up run")
        assert [(r["run_type"], r["state"]) for r in first] == [("asset_triggered", "success")]
        assert target_rows() == 10

        with stack.connect("src") as src:
            src.execute("INSERT INTO public.orders (id, note) VALUES (11, 'one')")
        until(lambda: target_rows() == 11, "the inserted row in the target")
        until(lambda: len(finished_runs()) >= 2, "the insert's run to finish")
        before = len(audit())

        with stack.connect("src") as src:
            for key in range(12, 12 + BURST):  # one commit each
                src.execute("INSERT INTO public.orders (id, note) VALUES (%s, 'burst')", (key,))
        until(lambda: target_rows() == 11 + BURST, "the burst in the target")
        burst = until(
            lambda: (rows := audit()[before:])
            and sum(r[2] for r in rows) >= BURST
            and finished_runs()
            and rows,
            "the burst's runs to account for every notification",
        )
        # Every notification counted exactly once, in fewer runs than commits.
        assert sum(r[2] for r in burst) == BURST and len(burst) < BURST, burst
        assert {(r[1], r[3]) for r in burst} == {("postgres_notify", "success")}

        with stack.connect("dst") as dst:
            assert store.record_webhook(dst, FLOW, "msg_1") == "accepted"
            hooked = until(
                lambda: [r for r in audit() if r[1] == "webhook" and r[3] == "success"], "the webhook's run"
            )
            assert hooked[0][2] == 1
            assert store.unfired_webhooks(dst, FLOW) == (0, None)
