"""Table names from specs become quoted identifiers, never raw SQL."""

from __future__ import annotations

import pytest

from syncgate.db.identifiers import TableRef, ident_list

pytestmark = pytest.mark.unit


def test_a_table_name_without_a_schema_is_in_the_default_schema() -> None:
    assert TableRef.parse("orders") == TableRef("public", "orders")
    assert TableRef.parse("orders", default_schema="sales") == TableRef("sales", "orders")
    assert TableRef.parse("sales.orders") == TableRef("sales", "orders")


def test_a_table_renders_as_quoted_identifiers_whatever_its_characters() -> None:
    assert TableRef("Sales", 'we"ird').sql.as_string() == '"Sales"."we""ird"'
    assert TableRef.parse("x; DROP TABLE y").sql.as_string() == '"public"."x; DROP TABLE y"'
    assert str(TableRef("sales", "orders")) == "sales.orders"


def test_a_column_list_is_comma_separated_quoted_identifiers() -> None:
    assert ident_list(["id", "Name", 'a"b']).as_string() == '"id", "Name", "a""b"'
