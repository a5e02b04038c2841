"""Promote and push apply only a batch the gate passed, exactly as the gate saw it.

The stages run in-process (as the DAG chains them), so a staged table can be changed between
verify and promote; ``test_gate_enforced_dag.py`` proves the same through Airflow.
"""

from __future__ import annotations

from typing import Any

import pytest
from crm_push import make_http_spec, push_requests, seed_customers
from helpers import (
    audit,
    execute,
    make_spec,
    new_run,
    rows,
    seed_orders,
    source_orders,
    sync,
    target_orders,
    watermark,
)

from syncgate.errors import DataQualityError, FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration


def snapshot(dst: str) -> tuple[object, object]:
    return rows(dst, "SELECT id, xmin::text, status FROM analytics.orders ORDER BY id"), watermark(dst)


def loaded(spec: Any) -> tuple[Any, Any]:
    run = new_run(spec)
    return run, load(spec, run, transform(spec, extract(spec, run)))


def test_a_batch_changed_between_verify_and_promote_is_refused(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 100)
    spec = make_spec()
    sync(spec)
    execute(src, "UPDATE public.orders SET amount = 7, updated_at = now() WHERE id <= 5")
    run, staged = loaded(spec)
    verified = verify(spec, run, staged)
    before = snapshot(dst)

    # Someone "fixes" a staged row by hand after the gate passed the batch.
    execute(dst, f"UPDATE {staged.staging_table} SET amount = 1000000 WHERE id = 3")
    with pytest.raises(FatalError) as caught:
        promote(spec, run, verified)
    message = str(caught.value)
    assert f"batch {staged.batch_id} of flow 'orders_flow' changed after verify passed it" in message
    assert "1 row(s) of staged table syncgate_staging.orders_flow__" in message
    assert "target and watermark are unchanged" in message
    assert snapshot(dst) == before
    assert audit(dst, run.run_id)["status"] == "running"  # the DAG's failure callback marks it failed

    # Clearing verify and promote checks the batch as it now is, then applies it.
    promote(spec, run, verify(spec, run, staged))
    assert rows(dst, "SELECT amount FROM analytics.orders WHERE id IN (3, 4) ORDER BY id") == [
        (1000000,),
        (7,),
    ]


def test_a_first_load_is_refused_before_its_staging_table_is_adopted(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec()
    run, staged = loaded(spec)
    verified = verify(spec, run, staged)
    execute(dst, f"DELETE FROM {staged.staging_table} WHERE id = 9")
    with pytest.raises(FatalError, match="holds 49 rows where verify checked 50"):
        promote(spec, run, verified)
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]
    assert rows(dst, "SELECT to_regclass(%s) IS NOT NULL", (staged.staging_table,)) == [(True,)]
    assert watermark(dst) is None


def test_a_rejected_batch_is_refused_even_when_promote_gets_its_manifest(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 30)
    spec = make_spec()
    sync(spec)
    execute(src, "UPDATE public.orders SET status = 'Z', updated_at = now() WHERE id = 4")
    run, staged = loaded(spec)
    with pytest.raises(DataQualityError):
        verify(spec, run, staged)
    before = snapshot(dst)
    with pytest.raises(FatalError, match="has no passing quality verdict \\(verify rejected it: .*on status"):
        promote(spec, run, staged)
    assert snapshot(dst) == before


def test_promote_without_a_manifest_refuses_cleanly_or_repeats_a_committed_run(
    databases: dict[str, str],
) -> None:
    """What a promote gets when its verify task was marked success by hand: ``None``."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 30)
    spec = make_spec()
    first = sync(spec)
    # A retry of a promote that already committed: nothing to do, the recorded counts.
    assert promote(spec, first["run"], None) == first["counts"]

    execute(src, "UPDATE public.orders SET status = 'Z', updated_at = now() WHERE id = 4")
    run, staged = loaded(spec)
    with pytest.raises(DataQualityError):
        verify(spec, run, staged)
    before = snapshot(dst)
    with pytest.raises(FatalError) as caught:
        promote(spec, run, None)
    message = str(caught.value)
    assert "received no batch: its verify task produced no result (was it marked success by hand?)" in message
    assert f"Batch {staged.batch_id} of run {run.run_id} has no passing quality verdict" in message
    assert "verify rejected it: expect_column_values_to_be_in_set on status" in message
    assert snapshot(dst) == before
    assert audit(dst, run.run_id)["status"] == "rejected"

    # A batch that was staged but never verified.
    execute(src, "UPDATE public.orders SET status = 'P', updated_at = now() WHERE id = 4")
    unchecked, _ = loaded(spec)
    with pytest.raises(FatalError, match="has no quality verdict \\(verify did not check it\\)"):
        promote(spec, unchecked, None)
    assert snapshot(dst) == before
    sync(spec)
    assert target_orders(dst) == source_orders(src)


def test_a_hard_delete_key_set_changed_after_verify_is_refused(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 40)
    spec = make_spec()
    sync(spec)
    execute(src, "UPDATE public.orders SET amount = 2, updated_at = now() WHERE id = 1")
    run, staged = loaded(spec)
    assert "keys" in staged.files
    verified = verify(spec, run, staged)
    # Dropping keys from the source key set would delete their rows from the target.
    execute(dst, f"DELETE FROM {staged.staging_table}__keys WHERE id > 30")
    before = snapshot(dst)
    with pytest.raises(FatalError, match="__keys holds 30 rows where verify checked 40"):
        promote(spec, run, verified)
    assert snapshot(dst) == before


def test_an_http_push_refuses_a_changed_or_rejected_batch_and_sends_nothing(
    databases: dict[str, str], crm_empty: Any
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 20)
    spec = make_http_spec()
    run, staged = loaded(spec)
    verified = verify(spec, run, staged)
    execute(dst, f"UPDATE {staged.staging_table} SET name = 'Changed by hand' WHERE id = 2")
    with pytest.raises(FatalError, match="changed after verify passed it: 1 row\\(s\\) of staged table"):
        promote(spec, run, verified)
    assert push_requests(crm_empty) == 0
    assert watermark(dst, "crm_push") is None
    assert rows(dst, "SELECT count(*) FROM syncgate.push_batches") == [(0,)]  # nothing planned

    # A batch the gate rejected: refused with the gate's reason, whatever promote is handed.
    execute(src, "UPDATE public.customers SET status = 'unknown', updated_at = now() WHERE id = 5")
    rejected, bad = loaded(spec)
    with pytest.raises(DataQualityError):
        verify(spec, rejected, bad)
    for manifest in (bad, None):
        with pytest.raises(FatalError, match="no passing quality verdict \\(verify rejected it: .*on status"):
            promote(spec, rejected, manifest)
    assert push_requests(crm_empty) == 0
    assert watermark(dst, "crm_push") is None
