"""`source.type: postgres` / `target.type: postgres`: a table or one SELECT; state on the target."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncgate.connectors.postgres.spec import PostgresSource, PostgresTarget

pytestmark = pytest.mark.unit


def source(**values: Any) -> PostgresSource:
    return PostgresSource.model_validate({"type": "postgres", "conn_id": "src", **values})


def test_a_source_is_a_table_or_a_query() -> None:
    assert source(table="public.orders").table == "public.orders"
    assert source(query="WITH x AS (SELECT 1 AS id) SELECT id FROM x").query is not None
    assert source(query="  select * from t;").query is not None  # one trailing semicolon is fine


@pytest.mark.parametrize("values", [{}, {"table": "t", "query": "SELECT 1"}])
def test_a_source_needs_exactly_one_of_table_or_query(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="give exactly one of `table` or `query`"):
        source(**values)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM t", "must be a single SELECT"),
        ("UPDATE t SET a = 1 RETURNING *", "must be a single SELECT"),
        ("SELECT 1; DROP TABLE t", "must be a single statement"),
        ("SELECT 1;; SELECT 2;", "must be a single statement"),
    ],
)
def test_a_query_must_be_one_select(query: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        source(query=query)


@pytest.mark.parametrize("table", ["public.orders;drop", "a.b.c", "1orders", 'public."x"'])
def test_a_table_name_is_a_plain_schema_qualified_identifier(table: str) -> None:
    with pytest.raises(ValidationError, match="table"):
        source(table=table)


def test_the_shared_key_rules_apply_to_postgres_sources() -> None:
    with pytest.raises(ValidationError, match="`deletes: hard` needs `primary_key`"):
        source(table="t", deletes="hard")


def test_a_postgres_target_keeps_state_on_its_own_connection_and_merges_by_default() -> None:
    target = PostgresTarget.model_validate(
        {"type": "postgres", "conn_id": "dst", "table": "analytics.orders"}
    )
    assert target.state_connection() == "dst" and target.write == "merge"
    with pytest.raises(ValidationError, match="write"):
        PostgresTarget.model_validate({"type": "postgres", "conn_id": "dst", "table": "t", "write": "upsert"})


WAL_SOURCE = {
    "type": "postgres",
    "conn_id": "src",
    "table": "public.t",
    "primary_key": ["id"],
    "capture": "wal",
}


def test_capture_defaults_to_cursor_and_wal_needs_no_cursor() -> None:
    from syncgate.connectors.postgres.spec import PostgresSource

    assert PostgresSource.model_validate({**WAL_SOURCE, "capture": "cursor"}).capture == "cursor"
    assert PostgresSource.model_validate(WAL_SOURCE).cursor is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": None, "query": "SELECT 1 AS id"}, "give `table`, not `query`"),
        ({"primary_key": []}, "`capture: wal` needs `primary_key`"),
        ({"cursor": "updated_at"}, "needs no `cursor`"),
        ({"capture": "logical"}, "capture"),
    ],
)
def test_capture_wal_refuses_what_it_cannot_use(change: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    from syncgate.connectors.postgres.spec import PostgresSource

    raw = {k: v for k, v in {**WAL_SOURCE, **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        PostgresSource.model_validate(raw)
