"""Incremental semantics against real PostgreSQL: every stage in-process, no Airflow scheduler."""

from __future__ import annotations

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

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("merge_path")
def test_inserts_updates_and_hard_deletes_keep_target_equal_to_source(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 500)
    spec = make_spec()

    first = sync(spec)
    assert first["counts"] == {"rows_inserted": 500, "rows_updated": 0, "rows_deleted": 0}
    assert target_orders(dst) == source_orders(src)

    execute(
        src,
        "UPDATE public.orders SET status = 'X', amount = amount + 1, updated_at = now() WHERE id % 50 = 0",
        "INSERT INTO public.orders VALUES (1001, 'P', 9.99, 'new', 'o', now()), (1002, 'S', NULL, '', NULL, now())",
        "DELETE FROM public.orders WHERE id IN (3, 4, 5)",
    )
    second = sync(spec)
    assert second["rows"] == 12  # 10 updated + 2 new: only the changes travel
    assert second["counts"] == {"rows_inserted": 2, "rows_updated": 10, "rows_deleted": 3}
    assert target_orders(dst) == source_orders(src)
    record = audit(dst, second["run"].run_id)
    assert record["status"] == "success" and record["quality_verdict"] == "passed"
    assert (record["rows_extracted"], record["rows_inserted"], record["rows_updated"], record["rows_deleted"]) == (
        12, 2, 10, 3,
    )  # fmt: skip
    assert record["window_from"] == first["watermark_after"]
    assert all(record[f"{s}_seconds"] is not None for s in ("extract", "load", "verify", "promote"))


def test_rows_sharing_the_boundary_value_are_neither_lost_nor_duplicated(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    # Every row carries the same cursor value: the whole batch sits on the boundary.
    execute(
        src,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, status char(1), amount numeric(12,2), "
        'note text, "order" text, updated_at timestamptz NOT NULL)',
        "INSERT INTO public.orders SELECT g, 'P', g, NULL, NULL, '2026-03-01 12:00:00.123456+00' "
        "FROM generate_series(1, 100) g",
    )
    # Append mode: a boundary row read twice would show up twice.
    spec = make_spec(target__write="append", source__deletes="none")
    sync(spec)
    mark = watermark(dst)
    assert mark is not None and mark[0] == "2026-03-01 12:00:00.123456+00" and len(mark[1]) == 100

    # A late row lands on exactly the same cursor value, plus one newer row.
    execute(
        src,
        "INSERT INTO public.orders VALUES (101, 'S', 1, NULL, NULL, '2026-03-01 12:00:00.123456+00'), "
        "(102, 'S', 2, NULL, NULL, '2026-03-01 12:00:01+00')",
    )
    second = sync(spec)
    assert second["rows"] == 2
    ids = [r[0] for r in rows(dst, "SELECT id FROM analytics.orders ORDER BY id")]
    assert ids == list(range(1, 103))

    third = sync(spec)  # nothing changed: nothing travels, nothing is appended
    assert third["rows"] == 0 and third["counts"]["rows_inserted"] == 0
    assert rows(dst, "SELECT count(*) FROM analytics.orders")[0][0] == 102


@pytest.mark.usefixtures("merge_path")
def test_running_twice_without_changes_leaves_the_target_untouched(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)
    spec = make_spec()
    sync(spec)
    before = rows(dst, "SELECT id, xmin::text FROM analytics.orders ORDER BY id")
    again = sync(spec)
    assert again["counts"] == {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    # Same row versions: not even a no-op update was written.
    assert rows(dst, "SELECT id, xmin::text FROM analytics.orders ORDER BY id") == before


def test_full_refresh_without_cursor_mirrors_the_source(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 200)
    spec = make_spec(source__cursor=None)
    sync(spec)
    execute(
        src, "DELETE FROM public.orders WHERE id <= 10", "UPDATE public.orders SET amount = 0 WHERE id = 11"
    )
    result = sync(spec)
    assert result["rows"] == 190
    assert result["counts"] == {"rows_inserted": 0, "rows_updated": 1, "rows_deleted": 10}
    assert target_orders(dst) == source_orders(src)
    assert watermark(dst) is None


def test_backfill_resyncs_exactly_its_interval_and_never_moves_the_watermark(
    databases: dict[str, str],
) -> None:
    from datetime import UTC, datetime

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 600)  # updated_at = 2026-01-01 00:00 + (id / 10) minutes
    spec = make_spec()
    sync(spec)
    mark = watermark(dst)
    # Damage the target inside and outside the interval [00:10, 00:20).
    execute(dst, "DELETE FROM analytics.orders WHERE id IN (50, 150, 250)")
    run = new_run(
        spec,
        run_id="backfill__2026-01-01T00:10",
        run_type="backfill",
        interval_start=datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
        interval_end=datetime(2026, 1, 1, 0, 20, tzinfo=UTC),
    )
    result = sync(spec, run)
    assert result["rows"] == 100  # ids 100..199: updated_at in [00:10, 00:20)
    ids = {r[0] for r in rows(dst, "SELECT id FROM analytics.orders")}
    assert 150 in ids and 50 not in ids and 250 not in ids
    assert result["counts"]["rows_deleted"] == 0  # a backfill never hard-deletes outside its slice
    assert watermark(dst) == mark


@pytest.mark.usefixtures("merge_path")
def test_soft_deletes_remove_rows_from_the_target(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    execute(
        src,
        "ALTER TABLE public.orders ADD COLUMN deleted_at timestamptz",
        "UPDATE public.orders SET deleted_at = now() WHERE id = 50",  # deleted before the first load
    )
    spec = make_spec(source__deletes="soft", source__soft_delete_column="deleted_at")
    assert sync(spec)["counts"]["rows_inserted"] == 49
    execute(src, "UPDATE public.orders SET deleted_at = now(), updated_at = now() WHERE id IN (1, 2)")
    result = sync(spec)
    assert result["counts"]["rows_deleted"] == 2
    remaining = {r[0] for r in rows(dst, "SELECT id FROM analytics.orders")}
    assert remaining == set(range(3, 50))


def test_replace_and_append_modes(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 20)
    replace = make_spec(target__write="replace", source__cursor=None, source__deletes="none")
    sync(replace)
    execute(src, "DELETE FROM public.orders WHERE id > 10")
    result = sync(replace)
    assert result["counts"] == {"rows_inserted": 10, "rows_updated": 0, "rows_deleted": 20}
    assert target_orders(dst) == source_orders(src)


def test_query_source_composite_key_and_awkward_identifiers(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        'CREATE TABLE public."OrderLines" ("order" bigint, "select" int, qty int, updated_at timestamptz, '
        'PRIMARY KEY ("order", "select"))',
        "INSERT INTO public.\"OrderLines\" SELECT g / 3, g % 3, g, '2026-01-01'::timestamptz + g * interval '1s' "
        "FROM generate_series(0, 29) g",
    )
    spec = make_spec(
        source={
            "type": "postgres",
            "conn_id": "src_db",
            "query": 'SELECT "order", "select", qty * 2 AS qty, updated_at FROM public."OrderLines"',
            "primary_key": ["order", "select"],
            "cursor": "updated_at",
        },
        target__table="Analytics.OrderLines",
        transform={},
        quality={"expectations": []},
    )
    sync(spec)
    got = rows(dst, 'SELECT "order", "select", qty FROM "Analytics"."OrderLines" ORDER BY 1, 2')
    assert got == [(g // 3, g % 3, g * 2) for g in range(30)]
    constraint = rows(
        dst,
        'SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = \'"Analytics"."OrderLines"\'::regclass',
    )
    assert constraint == [('PRIMARY KEY ("order", "select")',)]


def test_small_batches_and_parallel_load_streams_keep_every_row(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from syncgate.pipeline.extract import extract

    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 2000)
    monkeypatch.setenv("SYNCGATE_BATCH_BYTES", "4096")  # many row groups ...
    monkeypatch.setenv("SYNCGATE_LOAD_STREAMS", "3")  # ... loaded over three sessions
    spec = make_spec()
    landed = extract(spec, new_run(spec)).files["data"].removeprefix("file://")
    assert pq.ParquetFile(landed).num_row_groups > 10
    result = sync(spec)
    assert result["staged_rows"] == 2000
    assert target_orders(dst) == source_orders(src)
