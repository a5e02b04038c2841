"""Review of the upsert merge path, gc.freeze and the proportion key check: failing tests prove defects."""

from __future__ import annotations

import gc
import weakref

import pytest
from helpers import execute, make_spec, rows, sync

PLAIN = {"transform": {}, "quality": {"expectations": []}}


@pytest.mark.integration
@pytest.mark.usefixtures("merge_path")
def test_key_whose_target_equality_differs_from_staging_is_never_silently_lost(
    databases: dict[str, str],
) -> None:
    """Target key is citext (user-made table), source/staging key is text. The source changes the
    case of a key. ON CONFLICT uses the target's (case-insensitive) unique index: the old row is
    "updated" but keeps its old key; the hard delete then compares keys as text and deletes it.
    The joins path compares as text everywhere and fails loudly on the unique index instead."""
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
    spec = make_spec(**PLAIN, source__table="public.people", source__primary_key=["email"],
                     target__table="analytics.people")  # fmt: skip
    sync(spec)  # into the empty target: a plain insert
    execute(src, "UPDATE public.people SET email = 'Bob@x', name = 'Bobby', updated_at = '2026-01-02' "
                 "WHERE email = 'bob@x'")  # fmt: skip
    try:
        sync(spec)
    except Exception:  # refused loudly (joins path): the transaction rolled back, nothing lost
        pass
    bob = rows(dst, "SELECT email::text, name FROM analytics.people WHERE email = 'bob@x'")
    assert bob, "Bob's row vanished from the target although the source still has it (as 'Bob@x')"


@pytest.mark.integration
@pytest.mark.usefixtures("merge_path")
def test_update_only_batch_into_target_with_an_unsynced_not_null_column(databases: dict[str, str]) -> None:
    """The target has a NOT NULL column syncgate does not sync (kept by another process). A batch
    that only updates existing rows works on the joins path; INSERT ... ON CONFLICT checks NOT NULL
    (and CHECK) constraints on the proposed *insert* row before looking for the conflict."""
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


@pytest.mark.integration
@pytest.mark.usefixtures("merge_path")
def test_rerun_without_source_change_writes_nothing_when_target_type_is_narrower(
    databases: dict[str, str],
) -> None:
    """The two paths compare different things: the joins compare staged values as staged, the
    upsert compares them after the cast to the target's type (``excluded``). A target column
    narrower than the source's (numeric(12,2) <- numeric) is 'changed' on every joins run."""
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


@pytest.mark.unit
def test_freezing_startup_objects_does_not_leak_pending_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """gc.freeze() without a gc.collect() first moves garbage cycles that were pending at that
    moment into the permanent generation: their finalizers (closing a connection, a file) never run."""
    from syncgate.pipeline import startup

    monkeypatch.setattr(startup, "_frozen", False)
    finalized: list[bool] = []

    class Node:
        pass

    was_enabled = gc.isenabled()
    gc.disable()  # make "a cycle not collected yet" deterministic
    try:
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        weakref.finalize(node, finalized.append, True)
        del node
        startup._freeze_startup_objects()
    finally:
        if was_enabled:
            gc.enable()
    gc.collect()
    try:
        assert finalized == [True], "a garbage cycle pending at start-up was frozen forever"
    finally:
        gc.unfreeze()
        gc.collect()
