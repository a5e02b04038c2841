"""Proof (issue 12): a wal flow's target equals its source by checksum after 10,000 mixed changes,
with runs crashing at random stage boundaries, every run a real ``dag.test()``."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import ORDERS_DDL, execute, flows_dag_bag, rows, source_sum, target_sum

from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.spec.loader import load_specs

pytestmark = pytest.mark.integration

SPEC = """
id: wal_proof
retries: 0
source: {type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], capture: wal, deletes: hard}
target: {type: postgres, conn_id: dst_db, table: analytics.orders, write: merge}
transform:
  map_values: {status: {P: pending, S: shipped, X: cancelled}}
"""
CHANGES = 10_000
SEED = 12


class Crash(RuntimeError):
    """The run dies here."""


def write_changes(src: str, rng: random.Random, count: int, next_id: list[int]) -> None:
    """``count`` row changes in transactions of 1-50: inserts, updates, deletes, key updates."""
    import psycopg

    with psycopg.connect(src) as conn:
        done = 0
        while done < count:
            for _ in range(min(rng.randint(1, 50), count - done)):
                ids = [
                    r[0] for r in conn.execute("SELECT id FROM public.orders TABLESAMPLE SYSTEM (5) LIMIT 5")
                ]
                pick = rng.choice(ids) if ids else None
                kind = rng.random()
                if kind < 0.35 or pick is None:
                    next_id[0] += 1
                    conn.execute(
                        "INSERT INTO public.orders VALUES (%s, %s, %s, %s, NULL, now())",
                        (
                            next_id[0],
                            rng.choice("PSX"),
                            rng.randint(0, 10**6) / 100,
                            rng.choice([None, "ü✓", "x" * rng.randint(0, 3000)]),
                        ),
                    )
                elif kind < 0.75:
                    conn.execute(
                        "UPDATE public.orders SET status = %s, amount = %s, note = %s, updated_at = now() WHERE id = %s",
                        (
                            rng.choice("PSX"),
                            rng.choice([None, rng.randint(0, 1000)]),
                            rng.choice([None, "n", "é" * 40]),
                            pick,
                        ),
                    )
                elif kind < 0.93:
                    conn.execute("DELETE FROM public.orders WHERE id = %s", (pick,))
                else:
                    next_id[0] += 1
                    conn.execute("UPDATE public.orders SET id = %s WHERE id = %s", (next_id[0], pick))
                done += 1
            conn.commit()


def crash_points(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Where a run can die: inside each stage, and between promote's commit and the slot advance."""
    from syncgate.batch import settle
    from syncgate.connectors.postgres import wal_source
    from syncgate.pipeline import load as load_stage
    from syncgate.quality import verdicts

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise Crash("crashed")

    return {
        "extract": (wal_source, "_missing", boom),  # after the log was read, before anything landed
        "load": (load_stage, "copy_into", boom),
        "verify": (verdicts, "record", boom),
        "promote_before_commit": (settle, "settle", boom),  # inside promote's transaction
        "promote_after_commit": (wal_source.PostgresWalSource, "promoted", boom),  # slot not confirmed
    }


def test_ten_thousand_mixed_changes_with_crashing_runs_end_equal_by_checksum(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src, dst = databases["src"], databases["dst"]
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "wal_proof.yml").write_text(textwrap.dedent(SPEC))
    spec = load_specs(flows)[0].spec
    execute(
        src,
        ORDERS_DDL,
        "INSERT INTO public.orders SELECT g, 'P', g, 'seed', NULL, now() FROM generate_series(1, 500) g",
    )
    setup_flow(spec)
    rng = random.Random(SEED)
    next_id = [10_000]
    points = crash_points(monkeypatch)
    dag = flows_dag_bag(monkeypatch, flows).dags["wal_proof"]
    crashed: list[str] = []
    try:
        dag.test()
        written = 0
        while written < CHANGES:
            batch = min(rng.randint(300, 1500), CHANGES - written)
            write_changes(src, rng, batch, next_id)
            written += batch
            where = rng.choice([*points, None, None])
            with monkeypatch.context() as patch:
                if where is not None:
                    owner, name, fake = points[where]
                    patch.setattr(owner, name, fake)
                    crashed.append(where)
                run = dag.test()
            state = str(getattr(run.state, "value", run.state))
            assert state == ("success" if where is None else "failed"), where  # the crash really happened
        for _ in range(3):  # clean runs catch up with whatever the crashed ones left
            dag.test()
        assert source_sum(src) == target_sum(dst)
        assert rows(dst, "SELECT count(*) FROM analytics.orders") == rows(
            src, "SELECT count(*) FROM public.orders"
        )
        assert {"promote_after_commit", "promote_before_commit"} & set(crashed), (
            crashed
        )  # the seed crashes both ways
    finally:
        drop_flow(spec)
