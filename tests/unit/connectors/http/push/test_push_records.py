"""The JSON form of a staged row, built in SQL: which columns a record carries, and how each is rendered."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.push.records import digest_sql, object_sql, payload_columns, value_sql
from syncgate.errors import FatalError
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit

COLUMNS = [
    ("id", "bigint"),
    ("name", "text"),
    ("balance", "numeric(12,2)"),
    ("scores", "numeric[]"),
    ("deleted_at", "timestamp with time zone"),
]


def spec(**target: Any) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "crm_push",
            "source": {"type": "postgres", "conn_id": "erp", "table": "public.customers", "primary_key": ["id"],
                       "deletes": "soft", "soft_delete_column": "deleted_at"},
            "target": {"type": "http", "conn_id": "crm", "state_conn_id": "state", "endpoint": "/v1/c", **target},
        }
    )  # fmt: skip


def test_a_record_carries_every_column_but_the_soft_delete_column_by_default() -> None:
    assert [n for n, _ in payload_columns(spec(), COLUMNS)] == ["id", "name", "balance", "scores"]


def test_a_record_carries_the_listed_fields_and_always_the_id() -> None:
    assert payload_columns(spec(fields=["name", "balance"]), COLUMNS) == [
        ("name", "text"), ("balance", "numeric(12,2)"), ("id", "bigint"),
    ]  # fmt: skip


def test_fields_the_batch_lacks_are_a_fatal_error_naming_them() -> None:
    with pytest.raises(
        FatalError, match=r"flow 'crm_push': target.fields names column\(s\) the batch lacks: city"
    ):
        payload_columns(spec(fields=["name", "city"]), COLUMNS)


@pytest.mark.parametrize(
    ("pg_type", "rendered"),
    [
        ("numeric(12,2)", 'to_jsonb("s"."c"::text)'),
        ("decimal", 'to_jsonb("s"."c"::text)'),
        ("numeric(5)[]", 'to_jsonb("s"."c"::text[])'),
        ("bigint", 'to_jsonb("s"."c")'),
        ("timestamp with time zone", 'to_jsonb("s"."c")'),
        ("jsonb", 'to_jsonb("s"."c")'),
    ],
)
def test_numeric_values_travel_as_decimal_strings_others_as_their_natural_json(
    pg_type: str, rendered: str
) -> None:
    assert value_sql("c", pg_type, "s").as_string() == rendered


def test_an_object_of_many_columns_is_built_in_calls_of_at_most_fifty_pairs() -> None:
    columns = [(f"c{i}", "text") for i in range(120)]
    text = object_sql(columns, "s").as_string()
    calls = text.split(" || ")
    assert len(calls) == 3 and all(c.startswith("jsonb_build_object(") for c in calls)
    assert [c.count("to_jsonb(") for c in calls] == [50, 50, 20]
    assert '\'c119\', to_jsonb("s"."c119")' in calls[-1]
    assert object_sql([], "s").as_string() == "'{}'::jsonb"


def test_the_digest_hashes_the_canonical_jsonb_text() -> None:
    assert digest_sql(object_sql([("id", "bigint")], "s")).as_string() == (
        "encode(sha256(convert_to((jsonb_build_object('id', to_jsonb(\"s\".\"id\")))::text, 'UTF8')), 'hex')"
    )
