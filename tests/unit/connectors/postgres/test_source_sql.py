"""SQL reading a flow's source: quoted identifiers, bound values, the window and its boundary keys."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.batch.window import Window
from syncgate.connectors.postgres.source_sql import (
    PARAMS,
    escape_percent,
    key_expr,
    select,
    source_relation,
    window_sql,
)
from syncgate.spec.model import FlowSpec
from syncgate.state.watermarks import KEY_SEPARATOR

pytestmark = pytest.mark.unit


def spec(**source: Any) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "orders",
            "source": {"type": "postgres", "conn_id": "src", "primary_key": ["id"], "cursor": "updated_at",
                       **source},
            "target": {"type": "postgres", "conn_id": "dst", "table": "t"},
        }
    )  # fmt: skip


def test_a_table_source_is_a_quoted_schema_qualified_name() -> None:
    assert source_relation(spec(table="Sales.Orders")).as_string() == '"Sales"."Orders"'
    assert source_relation(spec(table="orders")).as_string() == '"public"."orders"'


def test_a_query_source_is_inlined_as_a_subquery_with_percent_signs_escaped() -> None:
    relation = source_relation(spec(query="SELECT * FROM o WHERE code LIKE 'A%'"))
    assert relation.as_string() == "(SELECT * FROM o WHERE code LIKE 'A%%') AS syncgate_source"
    assert escape_percent("x % 2 = 0 AND y LIKE '%a'") == "x %% 2 = 0 AND y LIKE '%%a'"


def test_every_statement_binds_at_least_one_parameter() -> None:
    # Binding a parameter makes psycopg read an inlined query's %% as %.
    condition, params = window_sql(spec(table="o"), Window())
    assert condition is None and params == PARAMS and params is not PARAMS


def test_a_key_is_its_columns_as_text_joined_by_the_key_separator() -> None:
    assert key_expr(["id"]).as_string() == '"id"::text'
    assert key_expr(["region", "id"]).as_string() == (
        f'concat_ws(\'{KEY_SEPARATOR}\', "region"::text, "id"::text)'
    )


def test_a_bounded_window_reads_from_lower_inclusive_to_upper_exclusive() -> None:
    condition, params = window_sql(spec(table="o"), Window(lower="2026-01-01", upper="2026-01-02"))
    assert condition is not None
    assert condition.as_string() == '"updated_at" >= %(lower)s AND "updated_at" < %(upper)s'
    assert (params["lower"], params["upper"]) == ("2026-01-01", "2026-01-02")


def test_an_open_window_reads_from_the_watermark_inclusive() -> None:
    condition, params = window_sql(spec(table="o"), Window(lower="2026-01-01"))
    assert condition is not None and condition.as_string() == '"updated_at" >= %(lower)s'
    assert "skip" not in params


def test_boundary_keys_skip_only_rows_at_the_watermark_value() -> None:
    window = Window(lower="2026-01-01", skip_keys=["7", "9"])
    condition, params = window_sql(spec(table="o"), window)
    assert condition is not None and condition.as_string() == (
        '"updated_at" > %(lower)s OR ("updated_at" = %(lower)s AND NOT ("id"::text = ANY(%(skip)s::text[])))'
    )
    assert params["skip"] == ["7", "9"]


def test_select_lists_quoted_columns_and_adds_the_condition() -> None:
    relation = source_relation(spec(table="o"))
    assert select(relation, ["id", "Name"], None).as_string() == 'SELECT "id", "Name" FROM "public"."o"'
    condition, _ = window_sql(spec(table="o"), Window(lower="x"))
    assert select(relation, ["id"], condition).as_string() == (
        'SELECT "id" FROM "public"."o" WHERE "updated_at" >= %(lower)s'
    )
