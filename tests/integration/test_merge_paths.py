"""Promote's two merge paths (upsert, joins) on shapes the main flow tests do not cover, and
which targets can take the upsert."""

from __future__ import annotations

import psycopg
import pytest
from helpers import execute, make_spec, rows, sync

from syncgate.db.catalog import has_unique_index_on
from syncgate.db.identifiers import TableRef

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}, "source__deletes": "none"}


@pytest.mark.usefixtures("merge_path")
def test_composite_key_with_awkward_identifiers_merges(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        'CREATE TABLE public."OrderLines" ("order" bigint, "select" int, "Qty" int, updated_at timestamptz, '
        'PRIMARY KEY ("select", "order"))',
        "INSERT INTO public.\"OrderLines\" SELECT g / 3, g % 3, g, '2026-01-01'::timestamptz + g * interval '1s' "
        "FROM generate_series(0, 29) g",
    )
    spec = make_spec(
        **PLAIN,
        source__table="public.OrderLines",
        source__primary_key=["order", "select"],
        target__table="Analytics.OrderLines",
    )
    sync(spec)
    execute(
        src,
        'UPDATE public."OrderLines" SET "Qty" = -1, updated_at = now() WHERE "order" = 2',
        'UPDATE public."OrderLines" SET updated_at = now() WHERE "order" = 3',  # touched, not changed
        'INSERT INTO public."OrderLines" VALUES (99, 0, 7, now()), (99, 1, 8, now())',
    )
    result = sync(spec)
    assert result["counts"] == {"rows_inserted": 2, "rows_updated": 6, "rows_deleted": 0}
    assert rows(dst, 'SELECT "order", "select", "Qty" FROM "Analytics"."OrderLines" ORDER BY 1, 2') == rows(
        src, 'SELECT "order", "select", "Qty" FROM public."OrderLines" ORDER BY 1, 2'
    )


@pytest.mark.usefixtures("merge_path")
def test_a_table_of_keys_only_merges(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.tags (tag text, item bigint, PRIMARY KEY (tag, item))",
        "INSERT INTO public.tags VALUES ('a', 1), ('b', 2)",
    )
    spec = make_spec(
        **PLAIN,
        source__table="public.tags",
        source__primary_key=["tag", "item"],
        source__cursor=None,
        target__table="analytics.tags",
    )
    sync(spec)
    execute(src, "INSERT INTO public.tags VALUES ('c', 3)")
    result = sync(spec)  # a full refresh: two rows already there, one new
    assert result["counts"] == {"rows_inserted": 1, "rows_updated": 0, "rows_deleted": 0}
    assert rows(dst, "SELECT tag, item FROM analytics.tags ORDER BY 1") == [("a", 1), ("b", 2), ("c", 3)]


def test_a_target_created_without_a_unique_key_still_merges(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.pipeline import promote

    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.items (id bigint PRIMARY KEY, name text, updated_at timestamptz)",
        "INSERT INTO public.items SELECT g, 'n' || g, '2026-01-01' FROM generate_series(1, 5) g",
    )
    # The user made the target (no key index at all): only the joins can merge into it.
    execute(
        dst,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.items (id bigint, name text, updated_at timestamptz)",
    )
    upserts: list[object] = []
    real = promote._upsert
    monkeypatch.setattr(promote, "_upsert", lambda *a, **k: upserts.append(a) or real(*a, **k))
    spec = make_spec(**PLAIN, source__table="public.items", target__table="analytics.items")
    assert sync(spec)["counts"]["rows_inserted"] == 5  # into the empty table
    execute(src, "UPDATE public.items SET name = 'changed', updated_at = now() WHERE id = 2")
    execute(src, "INSERT INTO public.items VALUES (6, 'new', now())")
    assert sync(spec)["counts"] == {"rows_inserted": 1, "rows_updated": 1, "rows_deleted": 0}
    assert upserts == []
    assert rows(dst, "SELECT id, name FROM analytics.items ORDER BY id") == [
        (1, "n1"), (2, "changed"), (3, "n3"), (4, "n4"), (5, "n5"), (6, "new"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ddl", "key", "usable"),
    [
        ("CREATE TABLE t (id bigint PRIMARY KEY, v text)", ["id"], True),
        (
            'CREATE TABLE t ("A b" int, "select" int, v text, UNIQUE ("select", "A b"))',
            ["A b", "select"],
            True,
        ),
        ("CREATE TABLE t (a int, b int, PRIMARY KEY (a, b))", ["a"], False),  # key is only part of it
        ("CREATE TABLE t (a int, b int, UNIQUE (a))", ["a", "b"], False),  # index narrower than the key
        ("CREATE TABLE t (a int, b int); CREATE UNIQUE INDEX ON t (a) INCLUDE (b)", ["a"], True),
        ("CREATE TABLE t (a int); CREATE UNIQUE INDEX ON t (a) WHERE a > 0", ["a"], False),  # partial
        ("CREATE TABLE t (a text); CREATE UNIQUE INDEX ON t (lower(a))", ["a"], False),  # expression
        ("CREATE TABLE t (a int, UNIQUE (a) DEFERRABLE)", ["a"], False),  # ON CONFLICT refuses it
        ("CREATE TABLE t (a int); CREATE INDEX ON t (a)", ["a"], False),  # not unique
        (
            "CREATE TABLE t (a int PRIMARY KEY); CREATE TABLE t_log (a int); "
            "CREATE RULE r AS ON INSERT TO t DO ALSO INSERT INTO t_log VALUES (NEW.a)",
            ["a"],
            False,  # ON CONFLICT refuses tables with rules
        ),
    ],
)
def test_which_targets_can_take_the_upsert(
    databases: dict[str, str], ddl: str, key: list[str], usable: bool
) -> None:
    with psycopg.connect(databases["dst"], autocommit=True) as conn:
        conn.execute("CREATE SCHEMA s")
        conn.execute("SET search_path = s")
        for statement in ddl.split("; "):
            conn.execute(statement)
        assert has_unique_index_on(conn, TableRef("s", "t"), key) is usable
