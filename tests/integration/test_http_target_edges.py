"""HTTP target edges: lost state commits, concurrent pushes, backfills, a changed field list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from crm_push import crm_customers, make_http_spec, push_requests, seed_customers, source_customers
from helpers import execute, new_run, rows, sync, watermark

from syncgate.connectors.http.push import progress, pusher
from syncgate.errors import ConcurrentRunError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration


def staged(spec: Any, **run_options: Any) -> tuple[Any, dict[str, Any]]:
    run = new_run(spec, **run_options)
    return run, verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def test_answers_received_but_not_recorded_are_replayed_not_reapplied(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state database fails right after the API answered: the outcomes are lost, not the writes."""
    src = databases["src"]
    seed_customers(src, 25)
    spec = make_http_spec()
    run, manifest = staged(spec)
    monkeypatch.setattr(pusher, "SINGLE_CHUNK", 10)
    original = progress.record
    calls = {"n": 0}

    def record(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        original(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(progress, "record", record)
        with pytest.raises(psycopg.OperationalError):
            promote(spec, run, manifest)
    assert crm_empty.admin.stats()["writes_applied"] == 20  # 10 recorded, 10 applied but unrecorded
    counts = promote(spec, run, manifest)
    assert counts["rows_inserted"] == 25
    stats = crm_empty.admin.stats()
    assert stats["writes_applied"] == 25
    assert push_requests(crm_empty) == 35  # the ten in doubt were sent twice and replayed once
    assert crm_customers(crm_empty) == source_customers(src)


def test_a_second_push_of_the_same_flow_is_refused_without_retries(
    databases: dict[str, str], crm_empty: Any
) -> None:
    seed_customers(databases["src"], 3)
    spec = make_http_spec()
    run, manifest = staged(spec)
    with psycopg.connect(databases["dst"], autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('syncgate.push:' || %s))", (spec.id,))
        # A ConcurrentRunError fails the task at once (dag_factory._stage): no back-off retries.
        with pytest.raises(ConcurrentRunError, match="is pushing"):
            promote(spec, run, manifest)
    assert push_requests(crm_empty) == 0
    assert promote(spec, run, manifest)["rows_inserted"] == 3


def test_backfills_neither_delete_nor_overwrite_newer_records(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 20)
    spec = make_http_spec(source__deletes="hard", source__soft_delete_column=None)
    sync(spec)
    execute(src, "UPDATE public.customers SET name = 'Newer', updated_at = now() WHERE id = 5")
    sync(spec)
    mark = watermark(dst, "crm_push")
    # An old version of row 5 turns up inside the backfill's interval; row 3 is gone from the source.
    execute(
        src,
        "UPDATE public.customers SET name = 'Older', updated_at = '2026-01-01 00:05:00+00' WHERE id = 5",
        "DELETE FROM public.customers WHERE id = 3",
    )
    before = push_requests(crm_empty)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    run, manifest = staged(
        spec, run_id="backfill__1", run_type="backfill", interval_start=start, interval_end=end
    )
    assert manifest.rows == 19
    counts = promote(spec, run, manifest)
    assert counts["rows_pushed"] == 0 and push_requests(crm_empty) == before
    records = crm_customers(crm_empty)
    assert records[5]["name"] == "Newer" and 3 in records
    assert watermark(dst, "crm_push") == mark


def test_a_narrower_field_list_refreshes_the_mirror_without_requests(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 4)
    sync(make_http_spec())
    narrower = make_http_spec(target__fields=["id", "name", "email", "status"])
    execute(src, "UPDATE public.customers SET tier = 8, updated_at = now() WHERE id = 2")
    before = push_requests(crm_empty)
    counts = sync(narrower)["counts"]
    # tier is no longer sent: the touched row's sent fields did not change, so nothing travels.
    assert counts["rows_pushed"] == 0 and push_requests(crm_empty) == before
    record = rows(dst, "SELECT _sg_record FROM syncgate_mirror.crm_push WHERE id = 2")[0][0]
    assert "tier" not in record


def test_an_older_batch_is_not_pushed_after_a_newer_one(databases: dict[str, str], crm_empty: Any) -> None:
    """Without a cursor no watermark tells two runs apart: the batch number does."""
    src = databases["src"]
    seed_customers(src, 10)
    spec = make_http_spec(source__cursor=None, source__deletes="hard", source__soft_delete_column=None)
    sync(spec)
    run, older = staged(spec)
    execute(
        src,
        "UPDATE public.customers SET name = 'Newer' WHERE id = 5",
        "DELETE FROM public.customers WHERE id = 3",
    )
    sync(spec)
    before = (crm_customers(crm_empty), push_requests(crm_empty))
    assert before[0][5]["name"] == "Newer" and 3 not in before[0]
    # Settled 'superseded' (the newer batch carries its changes): nothing pushed, not a failure.
    assert promote(spec, run, older) == {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    assert (crm_customers(crm_empty), push_requests(crm_empty)) == before
    status, error = rows(
        databases["dst"], "SELECT status, error FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,)
    )[0]
    assert status == "superseded" and "read before a newer one" in error
