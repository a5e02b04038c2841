"""`write: append` keeps every version of a row: an update of the source appends, never wedges."""

from __future__ import annotations

import pytest
from helpers import execute, make_spec, new_run, rows, seed_orders, sync

from syncgate.errors import FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration

VERSIONS = (
    "SELECT id, note, updated_at::text FROM analytics.orders WHERE id IN (1, 2) ORDER BY id, updated_at"
)


def test_an_updated_row_is_appended_as_its_next_version(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 20)
    spec = make_spec(target__write="append", source__deletes="none")
    sync(spec)
    execute(src, "UPDATE public.orders SET note = 'v2', updated_at = '2026-05-01+00' WHERE id = 1")
    second = sync(spec)
    assert second["counts"]["rows_inserted"] == 1
    execute(src, "UPDATE public.orders SET note = 'v3', updated_at = '2026-05-02+00' WHERE id = 1")
    execute(src, "INSERT INTO public.orders VALUES (21, 'P', 1, 'new', NULL, '2026-05-02+00')")
    assert sync(spec)["counts"]["rows_inserted"] == 2
    assert sync(spec)["counts"]["rows_inserted"] == 0  # nothing new: nothing appended
    assert rows(dst, VERSIONS) == [
        (1, "n1", "2026-01-01 00:00:00+00"),
        (1, "v2", "2026-05-01 00:00:00+00"),
        (1, "v3", "2026-05-02 00:00:00+00"),
        (2, "n2", "2026-01-01 00:00:00+00"),
    ]
    assert rows(dst, "SELECT count(*) FROM analytics.orders")[0][0] == 23
    constraint = rows(
        dst,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'analytics.orders'::regclass",
    )
    assert constraint == [("UNIQUE NULLS NOT DISTINCT (id, updated_at)",)]


def test_a_retried_promote_appends_each_version_once(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    spec = make_spec(target__write="append", source__deletes="none")
    sync(spec)
    execute(src, "UPDATE public.orders SET note = 'v2', updated_at = '2026-05-01+00' WHERE id IN (1, 2)")
    run = new_run(spec)
    batch = verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))
    promote(spec, run, batch)
    promote(spec, run, batch)
    assert rows(dst, "SELECT count(*) FROM analytics.orders")[0][0] == 12


def test_a_target_unique_on_the_key_alone_is_refused_with_the_fix(databases: dict[str, str]) -> None:
    """A target an older syncgate created (primary key on the source's key) cannot hold a second
    version: the run fails naming the constraint and the statement that fixes it; after it, the
    flow syncs."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 10)
    spec = make_spec(target__write="append", source__deletes="none")
    sync(spec)
    execute(
        dst,
        "ALTER TABLE analytics.orders DROP CONSTRAINT orders_id_updated_at_key",
        "ALTER TABLE analytics.orders ADD PRIMARY KEY (id)",
    )
    execute(src, "UPDATE public.orders SET note = 'v2', updated_at = '2026-05-01+00' WHERE id = 3")
    with pytest.raises(FatalError, match=r"unique index analytics\.orders_pkey on \(id\)") as refused:
        sync(spec)
    assert rows(dst, "SELECT count(*) FROM analytics.orders")[0][0] == 10
    fix = str(refused.value).split("e.g. ", 1)[1].split(", or use", 1)[0]
    execute(dst, fix)
    sync(spec)
    assert rows(dst, "SELECT note FROM analytics.orders WHERE id = 3 ORDER BY updated_at") == [
        ("n3",),
        ("v2",),
    ]


def test_without_a_cursor_new_keys_are_appended_and_held_rows_keep_their_first_version(
    databases: dict[str, str],
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 5)
    spec = make_spec(target__write="append", source__deletes="none", source__cursor=None)
    sync(spec)
    execute(src, "UPDATE public.orders SET note = 'changed' WHERE id = 1")
    execute(src, "INSERT INTO public.orders VALUES (6, 'P', 1, 'six', NULL, now())")
    assert sync(spec)["counts"]["rows_inserted"] == 1
    assert rows(dst, "SELECT id, note FROM analytics.orders WHERE id IN (1, 6) ORDER BY id") == [
        (1, "n1"),
        (6, "six"),
    ]
