"""An older batch never lands after a newer one, whatever the order runs' stages interleave in.

``max_active_runs=1`` fences only runs the scheduler starts: a run triggered by hand, a cleared
task, or a backfill next to the schedule overlap. Each case here overlaps runs stage by stage
in-process, on a real PostgreSQL, and checks that every promote that succeeds leaves the target
equal to the source as that batch read it, and that every refused promote changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from helpers import execute, make_spec, new_run, rows, seed_orders, source_orders, sync, target_orders
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgate.errors import ConcurrentRunError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.integration

STAGES = ("extract", "transform", "load", "verify", "promote")
NO_CURSOR = {"source__cursor": None}


def test_an_older_snapshot_promoted_after_a_newer_one_is_refused(databases: dict[str, str]) -> None:
    """The case from the field: a flow without a cursor; A loads, B syncs 100 deletes and 100
    updates, then A promotes its older snapshot last."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 500)
    spec = make_spec(**NO_CURSOR)
    sync(spec)
    slow = new_run(spec)
    older = verify(spec, slow, load(spec, slow, transform(spec, extract(spec, slow))))
    execute(
        src,
        "DELETE FROM public.orders WHERE id <= 100",
        "UPDATE public.orders SET status = 'X', note = 'newer' WHERE id BETWEEN 101 AND 200",
    )
    sync(spec)
    newer = target_orders(dst)
    assert newer == source_orders(src)
    # Not a failure: the newer batch carries every change of the older one (overlapping runs of
    # an event-driven flow meet this whenever the later run's promote wins the race).
    assert promote(spec, slow, older) == {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    assert target_orders(dst) == newer
    audit_row = rows(dst, "SELECT status, error FROM syncgate.sync_runs WHERE run_id = %s", (slow.run_id,))
    assert audit_row[0][0] == "superseded"
    assert "read before a newer one" in audit_row[0][1] and "#2, newest promoted #3" in audit_row[0][1]
    staged = rows(dst, "SELECT to_regclass(%s) IS NULL", (str(older.staging_table),))
    assert staged == [(True,)], "a superseded batch's staging table was kept"


def test_a_retried_promote_of_the_newest_batch_is_still_a_no_op(databases: dict[str, str]) -> None:
    """The fence compares with batches of other runs: the same batch promoted twice is not 'older'."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec(**NO_CURSOR)
    run = new_run(spec)
    batch = verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))
    first = promote(spec, run, batch)
    assert promote(spec, run, batch) == first
    assert target_orders(dst) == source_orders(src)


# Each generated case: the write mode and cursor of the flow, and a schedule of steps. A step
# advances one of three runs by one stage (a run that failed stays failed) and may change the
# source first.
MODES = st.sampled_from(
    [
        ("merge", NO_CURSOR),
        ("replace", NO_CURSOR),
        ("merge", {}),  # with a cursor: the watermark check and the fence both apply
    ]
)
CHANGES = st.sampled_from(["none", "update", "delete", "insert"])
STEPS = st.lists(st.tuples(st.integers(0, 2), CHANGES), min_size=8, max_size=16)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=MODES, steps=STEPS)
def test_generated_interleavings_never_land_an_older_batch(
    databases: dict[str, str], mode: tuple[str, dict[str, Any]], steps: list[tuple[int, str]]
) -> None:
    src, dst = databases["src"], databases["dst"]
    write, overrides = mode
    spec = _fresh_flow(src, dst, write, overrides)
    runs = [new_run(spec) for _ in range(3)]
    progress: dict[int, Any] = {}  # run index -> (next stage index, value handed on)
    read_as: dict[int, list[tuple[Any, ...]]] = {}  # the source as each run's extract read it
    sequences: dict[int, int] = {}
    newest_promoted = 0
    clock = [0]
    for index, change in steps:
        _change_source(src, change, clock)
        stage_at, value = progress.get(index, (0, None))
        if stage_at is None or stage_at == len(STAGES):
            continue  # finished or failed
        stage, run = STAGES[stage_at], runs[index]
        before = _target(dst)
        try:
            value = _stage(spec, stage, run, value)
        except ConcurrentRunError:  # overtaken: the watermark moved in a way its window misses
            assert stage == "promote"
            assert _target(dst) == before, "a refused promote changed the target"
            progress[index] = (None, None)
            continue
        if stage == "promote" and _status(dst, run) == "superseded":  # a newer batch promoted first
            assert sequences[index] < newest_promoted, "a batch was superseded by an older one"
            assert _target(dst) == before, "a superseded promote changed the target"
            progress[index] = (None, None)
            continue
        if stage == "extract":
            read_as[index] = source_orders(src)
            sequences[index] = value.sequence
        if stage == "promote":
            assert sequences[index] > newest_promoted, "a batch older than the newest promoted one landed"
            newest_promoted = sequences[index]
            assert _target(dst) == read_as[index], "the target is not the snapshot its batch read"
        progress[index] = (stage_at + 1, value)
    sync(spec)  # whatever happened, the next run brings the target level with the source
    assert target_orders(dst) == source_orders(src)


def _status(dst: str, run: Any) -> str:
    return str(rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,))[0][0])


def _target(dst: str) -> list[tuple[Any, ...]] | None:
    exists = rows(dst, "SELECT to_regclass('analytics.orders') IS NOT NULL")[0][0]
    return target_orders(dst) if exists else None


def _fresh_flow(src: str, dst: str, write: str, overrides: dict[str, Any]) -> FlowSpec:
    """A new flow id and empty tables for each generated case (the databases are the test's)."""
    execute(src, "DROP TABLE IF EXISTS public.orders")
    execute(dst, "DROP TABLE IF EXISTS analytics.orders")
    if rows(dst, "SELECT to_regclass('syncgate.target_owners') IS NOT NULL")[0][0]:
        execute(dst, "DELETE FROM syncgate.target_owners")  # each case's flow owns the table anew
    seed_orders(src, 30)
    return make_spec(id=f"fence_{uuid.uuid4().hex[:8]}", target__write=write, **overrides)


def _change_source(src: str, change: str, clock: list[int]) -> None:
    clock[0] += 1
    stamp = f"'2026-02-01'::timestamptz + interval '{clock[0]} minutes'"
    if change == "update":
        execute(
            src,
            f"UPDATE public.orders SET note = 'u{clock[0]}', updated_at = {stamp} "
            f"WHERE id IN (SELECT id FROM public.orders ORDER BY random() LIMIT 3)",
        )
    elif change == "delete":
        execute(
            src,
            "DELETE FROM public.orders WHERE id IN (SELECT id FROM public.orders ORDER BY random() LIMIT 2)",
        )
    elif change == "insert":
        execute(
            src,
            f"INSERT INTO public.orders SELECT COALESCE(max(id), 0) + 1, 'P', 1, NULL, NULL, {stamp} "
            "FROM public.orders",
        )


def _stage(spec: FlowSpec, stage: str, run: Any, value: Any) -> Any:
    if stage == "extract":
        return extract(spec, run)
    if stage == "transform":
        return transform(spec, value)
    return {"load": load, "verify": verify, "promote": _promote}[stage](spec, run, value)


def _promote(spec: FlowSpec, run: Any, batch: Any) -> Any:
    promote(spec, run, batch)
    return batch


def test_reads_of_one_flow_take_their_numbers_in_the_order_they_read(databases: dict[str, str]) -> None:
    """A read waits while another read of the flow holds the lock: numbers follow snapshots."""
    import threading

    from syncgate.batch import fence

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 20)
    spec = make_spec(**NO_CURSOR)
    sync(spec)  # creates the state schema
    waited: dict[str, Any] = {}
    with fence.serialised_read(spec.state_conn_id, spec.id) as holder:
        reader = threading.Thread(target=lambda: waited.update(batch=extract(spec, new_run(spec))))
        reader.start()
        reader.join(timeout=3)
        assert reader.is_alive(), "a second read of the flow did not wait for the first"
    reader.join(timeout=60)
    assert waited["batch"].sequence == holder + 1
    assert rows(dst, "SELECT taken FROM syncgate.batch_fences WHERE flow_id = %s", (spec.id,)) == [
        (holder + 1,)
    ]
