"""A wal flow under the real scheduler and triggerer (bench/airflow_stack.py): the slot's pending
changes run it without a Trigger pressed; changes made while its DAG is paused start no run, and
arrive once it is unpaused; inserts, updates and deletes reach the target exactly.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from scheduler_stack import flows_stack, until

pytestmark = pytest.mark.integration

FLOW = "ev_wal_paused"
SPEC = f"""
id: {FLOW}
retries: 0
triggers: [{{type: wal}}]
debounce: 500ms
source: {{type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], capture: wal, deletes: hard}}
target: {{type: postgres, conn_id: dst_db, table: public.orders}}
"""


def test_a_paused_wal_flow_catches_up_when_unpaused(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{FLOW}.yml").write_text(textwrap.dedent(SPEC))
    stack = flows_stack(tmp_path, flows)
    with stack:
        with stack.connect("src") as src:
            src.execute(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        f"WHERE slot_name = 'syncgate_{FLOW}'")  # fmt: skip
            src.execute(f"DROP PUBLICATION IF EXISTS syncgate_{FLOW}")
            src.execute("DROP TABLE IF EXISTS public.orders CASCADE")
            src.execute("CREATE TABLE public.orders (id int PRIMARY KEY, note text)")
            src.execute("INSERT INTO public.orders SELECT g, 'seed' FROM generate_series(1, 10) g")
        with stack.connect("dst") as dst:
            dst.execute("DROP SCHEMA IF EXISTS syncgate CASCADE; DROP TABLE IF EXISTS public.orders")
        stack.syncgate("cdc", "setup", FLOW)

        def source() -> list[tuple[Any, ...]]:
            with stack.connect("src") as src:
                return src.execute("SELECT id, note FROM public.orders ORDER BY id").fetchall()

        def target() -> list[tuple[Any, ...]]:
            with stack.connect("dst") as dst:
                if not dst.execute("SELECT to_regclass('public.orders') IS NOT NULL").fetchone()[0]:
                    return []
                return dst.execute("SELECT id, note FROM public.orders ORDER BY id").fetchall()

        def settled() -> list[dict[str, Any]]:
            runs = stack.runs(FLOW)
            return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else []

        stack.wait_for_dag(FLOW)
        stack.unpause(FLOW)
        until(lambda: target() == source(), "the first load")  # the catch-up run: nobody triggered

        with stack.connect("src") as src:
            src.execute("UPDATE public.orders SET note = 'live' WHERE id = 1")
            src.execute("DELETE FROM public.orders WHERE id = 2")
        until(lambda: target() == source(), "a live change")
        runs_before = len(until(settled, "the live change's run to settle"))

        stack.api("PATCH", f"/api/v2/dags/{FLOW}", {"is_paused": True})
        with stack.connect("src") as src:
            src.execute("INSERT INTO public.orders VALUES (100, 'while paused')")
            src.execute("UPDATE public.orders SET note = 'while paused' WHERE id = 3")
            src.execute("DELETE FROM public.orders WHERE id = 4")
        time.sleep(8)
        assert len(stack.runs(FLOW)) == runs_before, "a paused DAG ran"
        assert target() != source()

        stack.unpause(FLOW)
        until(lambda: target() == source(), "the changes made while paused, after unpausing")
        assert all(r["state"] == "success" for r in until(settled, "the runs to settle"))
