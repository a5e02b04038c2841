"""Two runs of one event-driven flow in flight at once (``dag_factory.EVENT_RUNS_IN_FLIGHT``).

Run B starts while run A is still working: B reads after A (reads are serialised and numbered),
so B's window starts at or before the watermark A will set and reaches further. Whichever
promote comes first, the target ends equal to the source, nothing fails, and the watermark ends
at B's: A's promote first then B's (B covers A's move), or B's first and A ``superseded``.
Each case runs the stages in-process on a real PostgreSQL, for a cursor flow and a WAL flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import execute, make_spec, new_run, rows, seed_orders, source_orders, sync, target_orders
from test_wal_capture import confirmed, seed, wal_spec

from syncgate.batch import fence
from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.errors import ConcurrentRunError
from syncgate.pipeline import extract as extract_module
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.quality import verdicts
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.integration


def staged(spec: FlowSpec, run: Any) -> Any:
    """A run's batch, extracted, transformed, loaded and verified: ready to promote."""
    return verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def status(dst: str, run: Any) -> str:
    return str(rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,))[0][0])


def watermark_row(dst: str, spec: FlowSpec) -> tuple[Any, ...]:
    return rows(dst, "SELECT value, sequence FROM syncgate.watermarks WHERE flow_id = %s", (spec.id,))[0]


def change(src: str, step: int) -> None:
    """An update, an insert and a delete, stamped later than anything before."""
    stamp = f"'2026-03-01'::timestamptz + interval '{step} minutes'"
    execute(
        src,
        f"UPDATE public.orders SET note = 'step {step}', updated_at = {stamp} WHERE id = {step}",
        f"INSERT INTO public.orders SELECT max(id) + 1, 'P', 1, 'new {step}', NULL, {stamp} FROM public.orders",
        f"DELETE FROM public.orders WHERE id = {100 + step}",
    )


@pytest.mark.parametrize("first", ["older", "newer"])
def test_a_cursor_flow_s_overlapping_runs_both_end_well_whichever_promotes_first(
    databases: dict[str, str], first: str
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)
    spec = make_spec()  # cursor updated_at, deletes: hard
    sync(spec)
    change(src, 1)
    older_run = new_run(spec)
    older = staged(spec, older_run)
    change(src, 2)  # arrives while the older run works: the newer run starts at once
    newer_run = new_run(spec)
    newer = staged(spec, newer_run)
    assert newer.sequence == older.sequence + 1
    if first == "older":
        promote(spec, older_run, older)
        promote(spec, newer_run, newer)  # refused before overlapping runs: "the watermark moved"
        assert (status(dst, older_run), status(dst, newer_run)) == ("success", "success")
    else:
        promote(spec, newer_run, newer)
        assert promote(spec, older_run, older) == dict.fromkeys(
            ("rows_inserted", "rows_updated", "rows_deleted"), 0
        )
        assert (status(dst, older_run), status(dst, newer_run)) == ("superseded", "success")
        # A cleared promote of the settled run finds nothing to do (it is not a failure either).
        assert verdicts.without_manifest(spec.state_conn_id, spec.id, older_run.run_id) == {
            "rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0,
        }  # fmt: skip
    assert target_orders(dst) == source_orders(src)
    assert watermark_row(dst, spec)[1] == newer.sequence
    change(src, 3)
    sync(spec)  # and the flow goes on from the newer run's watermark
    assert target_orders(dst) == source_orders(src)


def test_a_watermark_moved_by_hand_still_refuses_a_batch_in_flight(databases: dict[str, str]) -> None:
    """Only a move by an older read is covered: a reset (or any move with no batch number) may
    leave a gap, so the batch read before it is refused and nothing is written."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec()
    sync(spec)
    change(src, 1)
    run = new_run(spec)
    batch = staged(spec, run)
    execute(
        dst,
        f"UPDATE syncgate.watermarks SET value = '2099-01-01', sequence = NULL WHERE flow_id = '{spec.id}'",
    )
    before = target_orders(dst)
    with pytest.raises(ConcurrentRunError, match="watermark .* moved"):
        promote(spec, run, batch)
    assert target_orders(dst) == before


@pytest.fixture
def wal_flow(databases: dict[str, str]) -> Iterator[FlowSpec]:
    seed(databases["src"], 200)
    spec = wal_spec()
    setup_flow(spec)
    yield spec
    drop_flow(spec)


@contextmanager
def promote_during_read(spec: FlowSpec, run: Any, batch: Any) -> Iterator[None]:
    """While the next extract is between reading the watermark and reading the slot, promote
    ``batch`` (which confirms the slot past the watermark that extract read)."""
    real = fence.serialised_read

    @contextmanager
    def late_read(state_conn_id: str, flow_id: str) -> Iterator[int]:
        promote(spec, run, batch)
        with real(state_conn_id, flow_id) as number:
            yield number

    extract_module.fence.serialised_read = late_read  # type: ignore[assignment]
    try:
        yield
    finally:
        extract_module.fence.serialised_read = real  # type: ignore[assignment]


def older_batch(src: str, wal_flow: FlowSpec) -> tuple[Any, Any]:
    """After a first sync, the older run's batch of an update and a delete, ready to promote."""
    sync(wal_flow)
    execute(
        src, "UPDATE public.orders SET note = 'a' WHERE id <= 10", "DELETE FROM public.orders WHERE id = 50"
    )
    run = new_run(wal_flow)
    return run, staged(wal_flow, run)


def test_a_wal_flow_s_newer_run_reads_on_from_a_promote_that_landed_during_its_start(
    databases: dict[str, str], wal_flow: FlowSpec
) -> None:
    src, dst = databases["src"], databases["dst"]
    older_run, older = older_batch(src, wal_flow)
    execute(
        src,
        "UPDATE public.orders SET note = 'b' WHERE id BETWEEN 5 AND 15",
        "DELETE FROM public.orders WHERE id = 60",
    )
    newer_run = new_run(wal_flow)
    with promote_during_read(wal_flow, older_run, older):
        newer = staged(wal_flow, newer_run)  # refused before: "the slot is confirmed past the watermark"
    assert confirmed(src, wal_flow.id) == older.watermark_after
    promote(wal_flow, newer_run, newer)
    assert (status(dst, older_run), status(dst, newer_run)) == ("success", "success")
    assert target_orders(dst) == source_orders(src)
    assert confirmed(src, wal_flow.id) == newer.watermark_after


@pytest.mark.parametrize("first", ["older", "newer"])
def test_a_wal_flow_s_overlapping_runs_both_end_well_whichever_promotes_first(
    databases: dict[str, str], wal_flow: FlowSpec, first: str
) -> None:
    src, dst = databases["src"], databases["dst"]
    older_run, older = older_batch(src, wal_flow)
    execute(
        src,
        "INSERT INTO public.orders VALUES (900, 'P', 1, 'late', NULL, now())",
        "DELETE FROM public.orders WHERE id = 60",
    )
    newer_run = new_run(wal_flow)
    newer = staged(wal_flow, newer_run)
    order = [(older_run, older), (newer_run, newer)]
    for run, batch in order if first == "older" else order[::-1]:
        promote(wal_flow, run, batch)
    expected = ("success", "success") if first == "older" else ("superseded", "success")
    assert (status(dst, older_run), status(dst, newer_run)) == expected
    assert target_orders(dst) == source_orders(src)
    assert confirmed(src, wal_flow.id) == newer.watermark_after
    execute(src, "UPDATE public.orders SET note = 'c' WHERE id = 900")
    sync(wal_flow)
    assert target_orders(dst) == source_orders(src)
