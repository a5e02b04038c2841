"""Adversarial review of "two runs in flight for event-driven one-way flows" (553b9c4..73652b0).

Each test states the behaviour the design (docs/how-a-run-works.md#failures-and-retries, the
docstrings of batch/settle.py and batch/fence.py) promises, and failed on the reviewed commit.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from crm_push import crm_customers, make_http_spec, seed_customers, source_customers
from helpers import audit, execute, make_spec, new_run, rows, seed_orders, sync
from test_wal_capture import confirmed

from syncgate.batch import fence
from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.errors import ConcurrentRunError, FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration


def staged(spec: Any, **run_options: Any) -> tuple[Any, Any]:
    run = new_run(spec, **run_options)
    return run, verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def names(crm: Any) -> dict[int, str]:
    return {int(k): v["name"] for k, v in crm_customers(crm).items()}


# HTTP targets keep one run at a time (their Target.applies_atomically is False), so two runs
# of an event-driven flow never push side by side; a run started by hand next to another is
# refused while the other pushes (tests/integration/test_http_target_edges.py).


# --- F3: a superseded WAL batch confirms the slot past the committed watermark ---------------------


@pytest.fixture
def wal_push_flow(databases: dict[str, str]) -> Any:
    seed_customers(databases["src"], 10)
    spec = make_http_spec(
        source__cursor=None, source__capture="wal", source__deletes="none", source__soft_delete_column=None
    )  # not `hard`: a WAL batch's deletes (deleted.parquet) fail every HTTP push (changes.py)
    setup_flow(spec)
    yield spec
    drop_flow(spec)


def test_a_batch_superseded_by_a_failed_push_does_not_confirm_the_slot(
    databases: dict[str, str], crm_empty: Any, wal_push_flow: Any
) -> None:
    """WAL source, HTTP target (rejects.fail_run: true, the default). The newer batch's push
    fails (the API refuses a record): its number is recorded as promoted, the watermark stays.
    The older batch is then settled 'superseded' - and promote confirms the slot up to the
    older batch's position, past the committed watermark. The next run refuses for good
    ("the slot was re-created or advanced outside syncgate"), and the older batch's changes
    are gone from the slot."""
    src, dst = databases["src"], databases["dst"]
    spec = wal_push_flow
    sync(spec)
    mark = rows(dst, "SELECT value FROM syncgate.watermarks WHERE flow_id = %s", (spec.id,))[0][0]
    execute(src, "UPDATE public.customers SET name = 'Older' WHERE id = 1")
    older_run, older = staged(spec)
    execute(src, "UPDATE public.customers SET email = 'no-at-sign' WHERE id = 2")  # the API says 422
    newer_run, newer = staged(spec)
    with pytest.raises(FatalError, match="refused"):
        promote(spec, newer_run, newer)
    assert rows(dst, "SELECT value FROM syncgate.watermarks WHERE flow_id = %s", (spec.id,))[0][0] == mark
    promote(spec, older_run, older)
    status = audit(dst, older_run.run_id, spec.id)["status"]
    slot = confirmed(src, spec.id)
    assert rows(src, "SELECT %s::pg_lsn <= %s::pg_lsn", (slot, mark))[0][0], (
        f"the slot is confirmed at {slot}, past the committed watermark {mark} (older run: {status})"
    )
    execute(src, "UPDATE public.customers SET email = 'ok@example.com' WHERE id = 2")
    sync(spec)  # reviewed commit: FatalError "confirmed at ..., past flow 'crm_push''s watermark"
    assert crm_customers(crm_empty) == source_customers(src)


# --- F4: a watermark moved by hand is undone by a batch in flight ----------------------------------


def test_a_watermark_set_back_by_hand_still_refuses_a_batch_in_flight(databases: dict[str, str]) -> None:
    """docs/how-a-run-works.md: "A move by anything else (a reset by hand) still refuses." An
    operator who sets the watermark back to replay a range (UPDATE ... SET value) leaves the
    `sequence` column as it was, so the batch in flight is accepted and moves the watermark
    forward again: the replay is silently cancelled. (The shipped test resets `sequence` too.)"""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec()
    sync(spec)
    execute(src, "UPDATE public.orders SET note = 'x', updated_at = '2026-03-01' WHERE id = 1")
    run, batch = staged(spec)
    execute(
        dst,
        f"UPDATE syncgate.watermarks SET value = '2000-01-01 00:00:00+00' WHERE flow_id = '{spec.id}'",
    )
    with pytest.raises(ConcurrentRunError, match="moved"):
        promote(spec, run, batch)
    assert rows(dst, "SELECT value FROM syncgate.watermarks WHERE flow_id = %s", (spec.id,)) == [
        ("2000-01-01 00:00:00+00",)
    ]


# --- F5: a newer run waiting for the older run's long read fails for good --------------------------


def test_a_run_that_waits_out_the_read_lock_is_not_failed_for_good(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs in flight: the newer run's extract waits for the older run's read. A read longer
    than fence.LOCK_TIMEOUT (15 min: a first load, a WAL backlog, a rate-limited API) fails the
    newer run with ConcurrentRunError, a FatalError: no retry, 'failed' in the audit, failure
    alerts, and every further event-started run fails the same way while the read lasts. The
    timeout is 1 s here; the older read is simulated by holding the flow's read lock."""
    src = databases["src"]
    seed_orders(src, 20)
    spec = make_spec()
    sync(spec)
    monkeypatch.setattr(fence, "LOCK_TIMEOUT", "1s")
    with psycopg.connect(databases["dst"], autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"syncgate.read:{spec.id}",))
        with pytest.raises(Exception) as raised:
            extract(spec, new_run(spec))
    assert not isinstance(raised.value, FatalError), (
        f"waiting for the other run's read failed the run for good: {type(raised.value).__name__}: "
        f"{raised.value}"
    )
