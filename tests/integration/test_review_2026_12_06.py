"""Adversarial review of the merges of 2026-12-06 (branch wt-review): reproductions.

Each test states the behaviour that must hold; the ones marked FAILS ON MAIN failed on main at
e64517c and show a finding of the review report.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from helpers import execute, make_spec, new_run, rows, seed_orders, sync

from syncgate.db.connect import connect
from syncgate.errors import ConcurrentRunError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.state.schema import STEPS, ensure_state_schema

pytestmark = pytest.mark.integration


def _backfill(spec, start_minute: int, end_minute: int):  # type: ignore[no-untyped-def]
    return new_run(
        spec,
        run_id=f"backfill__{start_minute}",
        run_type="backfill",
        interval_start=datetime(2026, 1, 1, 0, start_minute, tzinfo=UTC),
        interval_end=datetime(2026, 1, 1, 0, end_minute, tzinfo=UTC),
    )


def _staged(spec, run):  # type: ignore[no-untyped-def]
    return verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def test_concurrent_backfill_slices_promoted_out_of_read_order_both_land(databases: dict[str, str]) -> None:
    """FAILED ON 29a260a (finding 1a; a backfill's promote no longer moves the fence). `airflow backfill create` runs several slices at once (see
    test_checkpoint_concurrent_runs): their windows are disjoint, so the order their promotes
    commit in cannot undo anything. The fence numbers them in read order and refuses the slice
    that promotes second, with a message saying the next run carries every change - which a
    backfill slice below the watermark never is: its damaged rows stay missing."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)  # updated_at = 00:00 + (id / 10) minutes
    spec = make_spec()
    sync(spec)
    execute(dst, "DELETE FROM analytics.orders WHERE id IN (105, 205)")  # damage in both slices
    first, second = _backfill(spec, 10, 20), _backfill(spec, 20, 30)
    first_batch, second_batch = _staged(spec, first), _staged(spec, second)
    promote(spec, second, second_batch)
    promote(spec, first, first_batch)  # main: ConcurrentRunError "#2, newest promoted #3"
    ids = {r[0] for r in rows(dst, "SELECT id FROM analytics.orders")}
    assert {105, 205} <= ids


def test_a_backfill_overtaken_by_a_scheduled_run_is_refused_and_its_rerun_lands(
    databases: dict[str, str],
) -> None:
    """Finding 1b, decided: a slice read before a scheduled run that promoted first is refused
    (the live run may have deleted rows the slice holds: landing it would bring them back), with
    a message that says to rerun the backfill, since no scheduled run reads its interval again.
    The rerun reads after the live run and lands, repairing the slice without undoing newer rows."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)
    spec = make_spec()
    sync(spec)
    execute(dst, "DELETE FROM analytics.orders WHERE id = 150")
    backfill = _backfill(spec, 10, 20)
    staged = _staged(spec, backfill)
    execute(src, "UPDATE public.orders SET amount = 7, updated_at = now() WHERE id = 1")
    sync(spec)  # the schedule's run: reads after the slice, promotes before it
    with pytest.raises(ConcurrentRunError, match=r"rerun this backfill run \(clear its extract task\)"):
        promote(spec, backfill, staged)
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE id = 150") == [(0,)]
    rerun = _backfill(spec, 10, 20)
    promote(spec, rerun, _staged(spec, rerun))
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE id = 150") == [(1,)]
    assert rows(dst, "SELECT amount FROM analytics.orders WHERE id = 1") == [(7,)]


# The blocks wt-fence (b2231ed) and wt-specsafety (5e8ef51) added to the start-up DDL before the
# lead folded them into migrations 3 and 4: a state database a dev/demo build ran on has them.
_DEV_BUILD_TABLES = """
CREATE TABLE IF NOT EXISTS syncgate.batch_fences (
    flow_id text PRIMARY KEY, taken bigint NOT NULL DEFAULT 0, promoted bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS syncgate.target_owners (
    target text PRIMARY KEY, flow_id text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO syncgate.target_owners (target, flow_id) VALUES ('table:analytics.orders', 'orders_flow');
INSERT INTO syncgate.batch_fences (flow_id, taken, promoted) VALUES ('orders_flow', 7, 7);
"""


def test_a_state_database_from_a_pre_merge_build_is_adopted(databases: dict[str, str]) -> None:
    """FAILED ON e64517c (finding 4; main fixed steps 3 and 4 meanwhile). Migrations 3 and 4 CREATE TABLE without IF NOT EXISTS: a state
    database that a build of wt-fence / wt-specsafety ran on (their tables came from the start-up
    DDL, no schema_version) makes every task fail with DuplicateTable until someone drops them -
    and dropping target_owners / batch_fences loses the claims and the fence."""
    dst = databases["dst"]
    execute(dst, STEPS[0].sql, _DEV_BUILD_TABLES)
    with connect("dst_db") as conn:
        ensure_state_schema(conn)  # main: DuplicateTable: relation "batch_fences" already exists
    assert rows(dst, "SELECT max(version) FROM syncgate.schema_version") == [(STEPS[-1].version,)]
    assert rows(dst, "SELECT flow_id, promoted FROM syncgate.batch_fences") == [("orders_flow", 7)]


def test_the_demos_push_flow_and_two_way_flow_both_may_write_their_slices_of_the_crm(
    databases: dict[str, str],
) -> None:
    """FAILED ON e64517c (finding 3), fixed on main by a12e15c (target slices). dags/flows/erp_accounts_to_crm.yml pushes ERP enterprise
    customers to the CRM's /v1/customers; erp_crm_customers_two_way.yml's crm side writes partner
    customers to the same endpoint - disjoint slices, by design ("the two flows cannot fight over
    a record"). Both claim `http:crm_api:/v1/customers` in warehouse_db, so whichever promotes
    second fails with TargetOwnedError on every run of the demo, with no way to say they share."""
    from helpers import REPO

    from syncgate.spec.loader import load_spec
    from syncgate.spec.model import FlowSpec
    from syncgate.spec.sync_model import SyncSpec
    from syncgate.state import target_owners

    flows = REPO / "dags" / "flows"
    push = load_spec(flows / "erp_accounts_to_crm.yml")
    two_way = load_spec(flows / "erp_crm_customers_two_way.yml")
    assert isinstance(push, FlowSpec) and isinstance(two_way, SyncSpec)
    crm_side = two_way.side("crm").view
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        with conn.transaction():
            target_owners.claim(conn, push, "warehouse_db")
        with conn.transaction():
            target_owners.claim(conn, crm_side, "warehouse_db")  # main: TargetOwnedError


def test_a_flow_that_owned_the_whole_target_and_now_declares_a_slice_leaves_room_for_another_slice(
    databases: dict[str, str],
) -> None:
    """FAILS ON MAIN at a12e15c (finding 3b; fixed on wt-review). A state database where the push flow promoted before
    it declared `slice: enterprise_leads` (every demo started before a12e15c; any deployment that
    adds a second writer later) keeps its claim on the whole endpoint: claim() never drops it, so
    the two-way flow's `slice: partners` side is refused on every run, and the message's advice
    ("give each a different `slice`") is what was already done."""
    from helpers import REPO

    from syncgate.spec.loader import load_spec
    from syncgate.spec.model import FlowSpec
    from syncgate.spec.sync_model import SyncSpec
    from syncgate.state import target_owners

    flows = REPO / "dags" / "flows"
    push = load_spec(flows / "erp_accounts_to_crm.yml")
    two_way = load_spec(flows / "erp_crm_customers_two_way.yml")
    assert isinstance(push, FlowSpec) and isinstance(two_way, SyncSpec)
    assert push.target.slice is not None
    before_slices = push.model_copy(update={"target": push.target.model_copy(update={"slice": None})})
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        with conn.transaction():
            target_owners.claim(conn, before_slices, "warehouse_db")  # promoted before the upgrade
        with conn.transaction():
            target_owners.claim(conn, push, "warehouse_db")  # its first promote with the slice
        with conn.transaction():
            target_owners.claim(conn, two_way.side("crm").view, "warehouse_db")  # main: TargetOwnedError
