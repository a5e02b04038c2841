"""A failed run leaves target and watermark as they were; a rerun is always safe."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_failed_quality_gate_promotes_nothing_keeps_staging_and_recovers(
    databases: dict[str, str], tmp_path: Path
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 100)
    spec = make_spec()
    sync(spec)
    before = snapshot(dst)

    execute(
        src,
        "UPDATE public.orders SET status = 'Z', updated_at = now() WHERE id = 7",  # not in the value set
        "UPDATE public.orders SET amount = 0, updated_at = now() WHERE id = 8",  # a good change, same batch
    )
    run = new_run(spec)
    with pytest.raises(DataQualityError) as caught:
        sync(spec, run)
    message = str(caught.value)
    assert "expect_column_values_to_be_in_set on status (unexpected_count=1" in message
    assert "target and watermark unchanged" in message
    report = caught.value.report
    assert report and report.startswith("file://") and Path(report.removeprefix("file://")).is_file()

    assert snapshot(dst) == before  # not one row version changed, watermark untouched
    record = audit(dst, run.run_id)
    assert record["status"] == "rejected" and record["quality_verdict"] == "failed"
    # The gate held back the whole batch (the two changed rows, plus the row at the watermark
    # value that merge re-reads); no record was refused one by one, so rows_rejected stays empty.
    assert record["rows_extracted"] == 3 and record["rows_rejected"] is None
    assert record["finished_at"] is not None
    assert record["failed_expectations"][0]["type"] == "expect_column_values_to_be_in_set"
    staged = rows(dst, f"SELECT id, status FROM {record['staging_table']} ORDER BY id")
    assert staged == [(7, "Z"), (8, "cancelled"), (100, "shipped")]  # kept for inspection

    execute(src, "UPDATE public.orders SET status = 'P', updated_at = now() WHERE id = 7")
    fixed = sync(spec)
    assert fixed["counts"]["rows_updated"] == 2
    assert target_orders(dst) == source_orders(src)
    leftover = rows(dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'syncgate_staging'")
    assert leftover == [(0,)], "the rejected batch's staging table is dropped by the next run"


def test_promote_failing_midway_rolls_back_rows_watermark_and_audit(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 100)
    spec = make_spec()
    sync(spec)
    # The target refuses one of the new rows, after the batch's updates were already applied.
    execute(dst, "ALTER TABLE analytics.orders ADD CONSTRAINT no_big_ids CHECK (id < 1000)")
    execute(
        src,
        "UPDATE public.orders SET amount = -1, updated_at = now() WHERE id <= 5",
        "INSERT INTO public.orders VALUES (5000, 'P', 1, NULL, NULL, now())",
    )
    before = snapshot(dst)
    run = new_run(spec)
    manifest = verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))
    with pytest.raises(Exception, match="no_big_ids"):
        promote(spec, run, manifest)
    assert snapshot(dst) == before
    assert audit(dst, run.run_id)["status"] == "running"  # the DAG's failure callback marks it failed

    execute(dst, "ALTER TABLE analytics.orders DROP CONSTRAINT no_big_ids")
    counts = promote(spec, run, manifest)  # the task retry succeeds from the same staged batch
    assert counts == {"rows_inserted": 1, "rows_updated": 5, "rows_deleted": 0}
    assert target_orders(dst) == source_orders(src)


def test_every_stage_can_be_retried_without_duplicates(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 100)
    spec = make_spec(target__write="append", source__deletes="none")  # duplicates would show
    run = new_run(spec)
    extract(spec, run)  # a first attempt whose result was lost: the retry extracts again
    extracted = extract(spec, run)
    transform(spec, extracted)
    transformed = transform(spec, extracted)
    load(spec, run, transformed)
    loaded = load(spec, run, transformed)
    verify(spec, run, loaded)
    verified = verify(spec, run, loaded)
    assert promote(spec, run, verified)["rows_inserted"] == 100
    # The worker died after commit: the retried promote finds the batch recorded and does nothing.
    assert promote(spec, run, verified) == {"rows_inserted": 100, "rows_updated": 0, "rows_deleted": 0}
    assert rows(dst, "SELECT count(*), count(DISTINCT id) FROM analytics.orders") == [(100, 100)]

    # Clearing and rerunning the whole run reads from the advanced watermark: nothing new.
    rerun = sync(spec, run)
    assert rerun["rows"] == 0
    assert rows(dst, "SELECT count(*) FROM analytics.orders") == [(100,)]


def test_a_value_the_declared_type_rejects_fails_the_load_not_the_target(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    execute(
        src,
        "UPDATE public.orders SET note = '12.5' WHERE true",
        "UPDATE public.orders SET note = 'abc' WHERE id = 3",
    )
    spec = make_spec(transform={"cast": {"note": "numeric(6,2)"}}, quality={"expectations": []})
    run = new_run(spec)
    with pytest.raises(FatalError, match="could not be loaded into staging") as caught:
        load(spec, run, transform(spec, extract(spec, run)))
    assert "column 'note'" in str(caught.value) and "abc" not in str(caught.value)  # no values: PII
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]
    assert watermark(dst) is None
    # The half-filled staging table is on record, so the flow's next run drops it.
    execute(dst, f"UPDATE syncgate.sync_runs SET status = 'failed' WHERE run_id = '{run.run_id}'")
    execute(src, "UPDATE public.orders SET note = '1' WHERE id = 3")
    sync(spec)
    assert rows(dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'syncgate_staging'") == [(0,)]


def test_a_batch_overtaken_by_a_newer_promoted_one_writes_nothing(databases: dict[str, str]) -> None:
    """The newer run read later and promoted first: the older batch ends 'superseded', its
    watermark move is not made, nothing is written (tests/integration/test_overlapping_runs.py)."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 30)
    spec = make_spec()
    slow = new_run(spec)
    slow_manifest = verify(spec, slow, load(spec, slow, transform(spec, extract(spec, slow))))
    sync(spec)  # another run promotes first
    before = snapshot(dst)
    assert promote(spec, slow, slow_manifest) == {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    assert snapshot(dst) == before
    assert rows(dst, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (slow.run_id,)) == [
        ("superseded",)
    ]


def test_missing_target_column_is_a_clear_error_and_changes_nothing(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    spec = make_spec()
    sync(spec)
    execute(
        src, "ALTER TABLE public.orders ADD COLUMN region text", "UPDATE public.orders SET updated_at = now()"
    )
    before = snapshot(dst)
    with pytest.raises(FatalError, match=r"has no column\(s\) region"):
        sync(spec)
    assert snapshot(dst) == before


def test_secrets_never_reach_audit_rows_reports_or_manifests(
    databases: dict[str, str], tmp_path: Path
) -> None:
    import json

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    result = sync(make_spec())
    secret = databases["secret"]
    assert secret not in json.dumps({k: v for k, v in result.items() if k != "run"}, default=str)
    assert secret not in json.dumps(rows(dst, "SELECT row_to_json(r) FROM syncgate.sync_runs r"), default=str)
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret written to {path}"


def test_a_bad_value_in_one_parallel_load_stream_fails_the_load(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 3000)
    execute(
        src, "UPDATE public.orders SET note = '7'", "UPDATE public.orders SET note = 'oops' WHERE id = 2500"
    )
    monkeypatch.setenv("SYNCGATE_BATCH_BYTES", "4096")
    monkeypatch.setenv("SYNCGATE_LOAD_STREAMS", "2")
    spec = make_spec(transform={"cast": {"note": "integer"}}, quality={"expectations": []})
    run = new_run(spec)
    with pytest.raises(FatalError, match="column 'note'"):
        load(spec, run, transform(spec, extract(spec, run)))
    assert audit(dst, run.run_id)["staging_table"] is not None  # on record for the next run to drop
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]


@pytest.mark.parametrize(
    ("key", "failed"),
    [
        (["id"], "expect_column_proportion_of_unique_values_to_be_between on id (observed_value=0.98"),
        (["id", "note"], "expect_compound_columns_to_be_unique on id,note (unexpected_count=2"),
    ],
)
def test_duplicate_keys_never_reach_the_target(
    databases: dict[str, str], key: list[str], failed: str
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    execute(src, "CREATE VIEW public.orders_twice AS SELECT * FROM public.orders UNION ALL "
                 "SELECT * FROM public.orders WHERE id = 7")  # fmt: skip
    spec = make_spec(source__table="public.orders_twice", source__primary_key=key)
    with pytest.raises(DataQualityError) as caught:
        sync(spec)
    assert failed in str(caught.value)
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]
    assert watermark(dst) is None
