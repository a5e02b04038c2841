"""Promote's two merge paths (upsert, joins) on shapes the main flow tests do not cover, and
which targets can take the upsert."""

from __future__ import annotations

import psycopg
import pytest
from helpers import execute, make_spec, rows, sync

from syncgate.db.catalog import table_columns, upsert_blocker
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


def test_a_key_the_target_compares_otherwise_is_never_silently_lost(databases: dict[str, str]) -> None:
    """A user-made target keyed by citext, a text key in the source whose case changes.

    An upsert would find the old row through the case-insensitive index, update it in place
    (keeping its old key), and the hard delete, comparing as text, would then remove it. The
    joins compare as text throughout: the new key collides in the unique index and the run fails
    with the target as it was."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.people (email text PRIMARY KEY, name text, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.people VALUES ('alice@x', 'Alice', '2026-01-01'), ('bob@x', 'Bob', '2026-01-01')",
    )
    execute(
        dst,
        "CREATE EXTENSION citext",
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.people (email citext PRIMARY KEY, name text, updated_at timestamptz NOT NULL)",
    )
    spec = make_spec(**{**PLAIN, "source__deletes": "hard"}, source__table="public.people",
                     source__primary_key=["email"], target__table="analytics.people")  # fmt: skip
    sync(spec)  # into the empty target: a plain insert
    execute(src, "UPDATE public.people SET email = 'Bob@x', name = 'Bobby', updated_at = '2026-01-02' "
                 "WHERE email = 'bob@x'")  # fmt: skip
    with pytest.raises(psycopg.errors.UniqueViolation):
        sync(spec)
    assert rows(dst, "SELECT email::text, name FROM analytics.people ORDER BY 1") == [
        ("alice@x", "Alice"), ("bob@x", "Bob"),
    ]  # fmt: skip


def test_update_only_batch_into_target_with_an_unsynced_not_null_column(databases: dict[str, str]) -> None:
    """The target has a NOT NULL column syncgate does not sync (kept by another process). An
    upsert would check NOT NULL on the proposed insert row before finding the conflict and fail;
    a batch that only updates must go through."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.items (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.items SELECT g, 'n' || g, '2026-01-01' FROM generate_series(1, 3) g",
    )
    execute(
        dst,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.items (id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL, "
        "owner text NOT NULL)",
        "INSERT INTO analytics.items SELECT g, 'n' || g, '2026-01-01', 'ops' FROM generate_series(1, 3) g",
    )
    execute(src, "UPDATE public.items SET name = 'changed', updated_at = '2026-01-02' WHERE id = 2")
    spec = make_spec(**PLAIN, source__table="public.items", target__table="analytics.items")
    assert sync(spec)["counts"] == {"rows_inserted": 0, "rows_updated": 1, "rows_deleted": 0}
    assert rows(dst, "SELECT id, name, owner FROM analytics.items ORDER BY id") == [
        (1, "n1", "ops"), (2, "changed", "ops"), (3, "n3", "ops"),
    ]  # fmt: skip


@pytest.mark.usefixtures("merge_path")
def test_rerun_without_source_change_writes_nothing_when_target_type_is_narrower(
    databases: dict[str, str],
) -> None:
    """A target column narrower than the source's (numeric(12,2) <- numeric): both paths compare
    the staged value as the target stores it, so an unchanged source writes nothing."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.prices (id bigint PRIMARY KEY, price numeric, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.prices VALUES (1, 1.005, '2026-01-01'), (2, 2.5, '2026-01-01')",
    )
    execute(
        dst,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.prices (id bigint PRIMARY KEY, price numeric(12,2), updated_at timestamptz)",
    )
    spec = make_spec(**PLAIN, source__table="public.prices", source__cursor=None,
                     target__table="analytics.prices")  # fmt: skip
    sync(spec)
    assert sync(spec)["counts"] == {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}


def test_a_target_created_without_a_unique_key_still_merges(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.connectors.postgres import target as promote

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
        # Another equality than the column's own: ON CONFLICT would match rows the joins do not.
        ("CREATE TABLE t (a text); CREATE UNIQUE INDEX ON t (a text_pattern_ops)", ["a"], False),
        ('CREATE TABLE t (a text); CREATE UNIQUE INDEX ON t (a COLLATE "C")', ["a"], False),
        ('CREATE TABLE t (a text COLLATE "C" PRIMARY KEY)', ["a"], True),
        (
            "CREATE TABLE t (a int PRIMARY KEY); CREATE TABLE t_log (a int); "
            "CREATE RULE r AS ON INSERT TO t DO ALSO INSERT INTO t_log VALUES (NEW.a)",
            ["a"],
            False,  # ON CONFLICT refuses tables with rules
        ),
        (
            "CREATE TABLE t (a int PRIMARY KEY); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql "
            "AS 'BEGIN RETURN NULL;END'; CREATE TRIGGER skip BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            ["a"],
            False,  # a BEFORE INSERT trigger also fires for rows the upsert would update
        ),
        (
            "CREATE TABLE p (a int PRIMARY KEY); CREATE TABLE t (a int PRIMARY KEY REFERENCES p)",
            ["a"],
            True,  # a foreign key's triggers are the system's own
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
        table = TableRef("s", "t")
        columns = table_columns(conn, table)  # a batch shaped exactly like the target
        assert (upsert_blocker(conn, table, key, columns, columns) is None) is usable


def test_a_target_shaped_unlike_the_batch_takes_the_joins(databases: dict[str, str]) -> None:
    with psycopg.connect(databases["dst"], autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id bigint PRIMARY KEY, v text, extra int)")
        table = TableRef("public", "t")
        target = table_columns(conn, table)
        assert upsert_blocker(conn, table, ["id"], target, target) is None
        narrower = [c for c in target if c[0] != "extra"]
        assert (
            upsert_blocker(conn, table, ["id"], narrower, target) == "its columns are not exactly the batch's"
        )
        retyped = [("id", "integer"), *target[1:]]
        assert upsert_blocker(conn, table, ["id"], retyped, target) == (
            "its key columns are typed differently from the batch's"
        )
