"""Identifier types every spec model shares, and the key rules every source type obeys."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from syncgate.spec.fields import EndpointPath, FlowId, HeaderName, Name, PgType, TableName, check_keys

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (Name, ["id", "_x", "Col_9", "a" * 63], ["9a", "a-b", "a b", "a.b", "", "a" * 64, 'a"b']),
        (FlowId, ["orders", "erp_orders_2", "o" * 40], ["Orders", "_o", "9o", "o-o", "o" * 41]),
        (TableName, ["orders", "sales.orders", "_s._t"], ["a.b.c", "sales.", ".orders", "s.o;drop", '"s".o']),
        (EndpointPath, ["/v1/customers", "/a-b/c_d.json", "/"], ["v1/x", "https://h/x", "/x?y=1", "/{id}"]),
        (HeaderName, ["Idempotency-Key", "X-1"], ["X_1", "a b", "a:b"]),
    ],
)
def test_identifier_types_accept_plain_names_only(kind: Any, good: list[str], bad: list[str]) -> None:
    adapter = TypeAdapter(kind)
    assert [adapter.validate_python(v) for v in good] == good
    for value in bad:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("numeric(12,2)", "numeric(12,2)"),
        ("timestamp with time zone", "timestamp with time zone"),
        ("double precision", "double precision"),
        ("character varying(20)", "character varying(20)"),
        ("text[]", "text[]"),
    ],
)
def test_a_pg_type_is_one_type_name_with_modifiers(written: str, stored: str) -> None:
    assert TypeAdapter(PgType).validate_python(written) == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("NUMERIC(12,2)", "numeric(12,2)"),
        ("Text", "text"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp with time zone"),
    ],
)
def test_a_pg_type_written_in_upper_case_is_stored_lower_case(written: str, stored: str) -> None:
    assert TypeAdapter(PgType).validate_python(written) == stored


@pytest.mark.parametrize(
    "written", ["text not null", "int; drop table x", "numeric(a)", "text default 'x'", "big int"]
)
def test_a_pg_type_carries_no_column_clause(written: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(PgType).validate_python(written)


def source(**values: Any) -> Any:
    base = {
        "primary_key": ["id"],
        "cursor": None,
        "columns": None,
        "deletes": "none",
        "soft_delete_column": None,
    }
    return SimpleNamespace(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"deletes": "soft"}, "`deletes: soft` needs `soft_delete_column`"),
        ({"soft_delete_column": "gone"}, "`soft_delete_column` only applies with `deletes: soft`"),
        ({"deletes": "hard", "primary_key": []}, "`deletes: hard` needs `primary_key`"),
        ({"primary_key": ["id", "id"]}, "`primary_key` lists a column twice"),
        ({"columns": ["name"], "cursor": "ts"}, "`columns` must include id, ts"),
        ({"columns": ["id"], "deletes": "soft", "soft_delete_column": "gone"}, "`columns` must include gone"),
    ],
)
def test_key_rules_name_the_field_at_fault(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_keys(source(**values))


def test_key_rules_accept_a_consistent_source() -> None:
    check_keys(source(columns=["id", "ts", "gone"], cursor="ts", deletes="soft", soft_delete_column="gone"))
    check_keys(source(primary_key=[], deletes="none"))
