"""SQL over a staged batch: which rows are live, and when a target row counts as changed."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.spec.model import FlowSpec
from syncgate.staging.merge_sql import comparable_row, live_rows, newer_only, update_if_changed

pytestmark = pytest.mark.unit


def spec(**source: Any) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "orders",
            "source": {"type": "postgres", "conn_id": "src", "table": "o", "primary_key": ["id"], **source},
            "target": {"type": "postgres", "conn_id": "dst", "table": "t"},
            "transform": {"rename": {"removed": "deleted"}},
        }
    )


def test_without_soft_deletes_every_staged_row_is_live() -> None:
    assert live_rows(spec(), "s").as_string() == "TRUE"


def test_a_soft_deleted_row_is_one_whose_column_is_set_and_not_false() -> None:
    live = live_rows(spec(deletes="soft", soft_delete_column="removed"), "s").as_string()
    # The column under its target name (after `rename`).
    assert live == '("s"."deleted" IS NULL OR "s"."deleted"::text IN (\'false\', \'f\'))'


def test_a_backfill_never_replaces_a_newer_target_row() -> None:
    assert (
        newer_only("updated_at").as_string()
        == ' AND (t."updated_at" IS NULL OR "s"."updated_at" >= t."updated_at")'
    )
    assert '"excluded"."updated_at" >= t."updated_at"' in newer_only("updated_at", "excluded").as_string()


def test_an_update_sets_every_column_and_only_where_a_value_differs() -> None:
    sets, condition = update_if_changed([("name", "text"), ("qty", "integer")], "s", None)
    assert sets.as_string() == '"name" = "s"."name", "qty" = "s"."qty"'
    assert condition.as_string() == '("t"."name", "t"."qty") IS DISTINCT FROM ("s"."name", "s"."qty")'


def test_a_backfill_update_also_requires_the_staged_row_to_be_no_older() -> None:
    _, condition = update_if_changed([("name", "text")], "s", "updated_at")
    assert condition.as_string().endswith(
        ' AND (t."updated_at" IS NULL OR "s"."updated_at" >= t."updated_at")'
    )


def test_a_single_column_is_compared_as_a_row() -> None:
    assert comparable_row([("name", "text")], "t").as_string() == 'ROW("t"."name")'


def test_types_whose_equality_is_not_identity_are_compared_as_text() -> None:
    # No '=' at all (json, polygon, a domain over point), or an '=' that calls different values
    # equal: box areas, 1.0 = 1.00, '1 day' = '24 hours', -0 = 0, jsonb's numbers.
    odd = ["json", "polygon", "json[]", "jsonb", "box", "numeric", "interval", "double precision",
           "d_point", "public.comp", "int4range", "mood", "inet", "bit varying(3)"]  # fmt: skip
    row = comparable_row([(f"c{i}", t) for i, t in enumerate(odd)], "t")
    assert row.as_string() == ", ".join(f'"t"."c{i}"::text' for i in range(len(odd)))


@pytest.mark.parametrize(
    "pg_type",
    ["integer", "bigint[]", "text", "character varying(20)", "character(3)", "numeric(12,2)", "boolean",
     "timestamp with time zone", "timestamp(3) without time zone", "date", "uuid", "bytea", "macaddr"],
)  # fmt: skip
def test_types_whose_equality_is_identity_are_compared_as_they_are(pg_type: str) -> None:
    assert comparable_row([("c", pg_type)], "t").as_string() == 'ROW("t"."c")'


def test_recast_staged_values_are_compared_as_the_target_stores_them() -> None:
    row = comparable_row([("amount", "numeric(12,2)"), ("doc", "json")], "s", recast={"amount", "doc"})
    assert row.as_string() == 'CAST("s"."amount" AS numeric(12,2)), CAST("s"."doc" AS json)::text'


@pytest.mark.parametrize(
    ("pg_type", "compared"),
    [("character varying(3)", '"s"."code"'), ("character(2)", '"s"."code"'), ("bit(4)", '"s"."code"::text'),
     ("bit varying(8)", '"s"."code"::text')],
)  # fmt: skip
def test_a_length_limited_type_is_never_compared_through_a_truncating_cast(
    pg_type: str, compared: str
) -> None:
    assert comparable_row([("code", pg_type), ("n", "integer")], "s", recast={"code"}).as_string() == (
        f'{compared}, "s"."n"'
    )
