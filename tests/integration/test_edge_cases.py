"""Edge cases that could lose data or block a flow: odd values, odd names, late backfills."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import execute, make_spec, new_run, rows, seed_orders, sync

from syncgate.errors import ConcurrentRunError, FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}}


def plain_spec(**overrides: object):  # type: ignore[no-untyped-def]
    return make_spec(**{**PLAIN, **overrides})


@pytest.mark.usefixtures("merge_path")
def test_merge_sees_an_update_that_keeps_the_cursor_value(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, note text, updated_at date NOT NULL)",
        "INSERT INTO public.orders VALUES (1, 'old', '2026-01-01'), (2, 'x', '2026-01-01')",
    )
    spec = plain_spec(source__deletes="none")
    sync(spec)
    execute(src, "UPDATE public.orders SET note = 'new' WHERE id = 1")  # same day: same cursor value
    sync(spec)
    assert rows(dst, "SELECT id, note FROM analytics.orders ORDER BY id") == [(1, "new"), (2, "x")]


def test_percent_signs_in_a_source_query(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 30)
    spec = plain_spec(
        source={
            "type": "postgres",
            "conn_id": "src_db",
            "query": "SELECT id, note, updated_at FROM public.orders WHERE note LIKE 'n%' AND id % 2 = 0",
            "primary_key": ["id"],
            "cursor": "updated_at",
        }
    )
    sync(spec)
    sync(spec)  # the second run binds the watermark: '%' must still mean '%'
    got = [r[0] for r in rows(dst, "SELECT id FROM analytics.orders ORDER BY id")]
    assert got == [g for g in range(1, 31) if g % 2 == 0 and g % 4 != 0]


@pytest.mark.usefixtures("merge_path")
def test_values_arrow_cannot_type_survive_and_json_merges(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.orders (id int PRIMARY KEY, at timestamptz, day date, amount numeric(12,2), "
        "doc json, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.orders VALUES "
        "(1, 'infinity', '-infinity', 'NaN', '{\"a\": 1}', '2026-01-01'), "
        "(2, '0044-03-15 12:00 BC', '10000-01-01', 1.5, '[1, \"x\"]', '2026-01-01')",
    )
    spec = plain_spec(source__deletes="none")
    sync(spec)
    execute(src, "UPDATE public.orders SET doc = '{\"a\": 2}', updated_at = '2026-01-02' WHERE id = 1")
    result = sync(spec)  # json has no '=': the merge must still compare it
    assert result["counts"]["rows_updated"] == 1
    copied = "SELECT id, at::text, day::text, amount::text, doc::text FROM {} ORDER BY id"
    assert rows(dst, copied.format("analytics.orders")) == rows(src, copied.format("public.orders"))


def test_soft_delete_flag_of_the_wrong_type_is_refused(databases: dict[str, str]) -> None:
    src = databases["src"]
    seed_orders(src, 5)
    execute(src, "ALTER TABLE public.orders ADD COLUMN is_deleted smallint NOT NULL DEFAULT 0")
    spec = make_spec(source__deletes="soft", source__soft_delete_column="is_deleted")
    with pytest.raises(FatalError, match="must be boolean"):
        extract(spec, new_run(spec))


def test_a_dropped_target_is_not_rebuilt_from_an_incremental_batch(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 20)
    spec = make_spec()
    sync(spec)
    execute(dst, "DROP TABLE analytics.orders")
    execute(src, "UPDATE public.orders SET updated_at = now() WHERE id = 1")
    with pytest.raises(FatalError, match="reset the flow"):
        sync(spec)
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]


def test_hashed_columns_never_land_in_clear(databases: dict[str, str], tmp_path: Path) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    spec = plain_spec(transform={"hash": ["note"]})
    run = new_run(spec)
    manifest = extract(spec, run)
    landed = pq.read_table(manifest.files["data"].removeprefix("file://"))
    notes = [n for n in landed["note"].to_pylist() if n is not None]
    assert notes and all(len(n) == 64 and not n.startswith("n") for n in notes)
    promote(spec, run, verify(spec, run, load(spec, run, transform(spec, manifest))))
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE note LIKE 'n%'") == [(0,)]


@pytest.mark.usefixtures("merge_path")
def test_a_late_backfill_never_overwrites_newer_rows(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 100)  # updated_at = 2026-01-01 00:00 + (id / 10) minutes
    spec = make_spec()
    sync(spec)
    backfill = new_run(
        spec,
        run_id="backfill__x",
        run_type="backfill",
        interval_start=datetime(2026, 1, 1, tzinfo=UTC),
        interval_end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    staged = verify(spec, backfill, load(spec, backfill, transform(spec, extract(spec, backfill))))
    execute(src, "UPDATE public.orders SET status = 'X', amount = 999, updated_at = now() WHERE id = 5")
    sync(spec)  # the live run promotes the newer row first
    # The slice was read before the live run: refused (batch fencing), saying to rerun it.
    with pytest.raises(ConcurrentRunError, match="rerun this backfill run"):
        promote(spec, backfill, staged)
    # Its rerun reads the interval again after the live run, and lands without touching row 5.
    execute(dst, "DELETE FROM analytics.orders WHERE id = 7")  # damage the backfill repairs
    staged = verify(spec, backfill, load(spec, backfill, transform(spec, extract(spec, backfill))))
    promote(spec, backfill, staged)
    assert rows(dst, "SELECT status, amount FROM analytics.orders WHERE id = 5") == [("cancelled", 999)]
    assert rows(dst, "SELECT count(*) FROM analytics.orders WHERE id = 7") == [(1,)]


def test_the_longest_flow_id_with_hard_deletes(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    spec = make_spec(id="f" * 40)
    sync(spec)
    execute(
        src,
        "DELETE FROM public.orders WHERE id = 1",
        "UPDATE public.orders SET updated_at = now() WHERE id = 2",
    )
    result = sync(spec)
    assert result["counts"]["rows_deleted"] == 1
    assert rows(dst, "SELECT count(*), count(amount) FROM analytics.orders") == [(9, 9)]


@pytest.mark.parametrize("key", ["transform__hash", "pii"])
def test_a_misspelt_pii_column_stops_the_run_before_anything_lands(
    databases: dict[str, str], key: str
) -> None:
    # Without `source.columns` the names can only be checked against the real columns: a typo
    # must fail the run, never leave the real column unprotected.
    seed_orders(databases["src"], 3)
    spec = plain_spec(**{key: ["nots"]})
    with pytest.raises(FatalError, match=r"names unknown column\(s\) nots"):
        extract(spec, new_run(spec))
    assert rows(databases["dst"], "SELECT to_regclass('analytics.orders')") == [(None,)]
