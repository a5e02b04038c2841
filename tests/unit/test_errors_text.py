"""Error text fit for the audit row, reports, UI and alerts: never a data value or a secret."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from syncgate.errors import DataQualityError, FatalError, SpecError
from syncgate.errors_text import MAX_CHARS, describe_database_error, safe_error_text

pytestmark = pytest.mark.unit

SECRET = "alice@example.com"


class DatabaseError(Exception):
    """Shaped like a psycopg error: PostgreSQL's diagnostics under ``diag``."""

    def __init__(self, message: str, **diag: Any) -> None:
        super().__init__(message)
        fields = {"sqlstate": None, "schema_name": None, "table_name": None, "column_name": None,
                  "constraint_name": None}  # fmt: skip
        self.diag = SimpleNamespace(**{**fields, **diag})


def test_our_own_errors_are_shown_whole() -> None:
    assert safe_error_text(FatalError("table sales.orders is missing")) == (
        "FatalError: table sales.orders is missing"
    )
    text = safe_error_text(DataQualityError("orders", ["expect_column_values_to_not_be_null(id)"], None))
    assert text.startswith("DataQualityError: quality gate rejected the batch of flow 'orders'")


def test_an_airflow_error_wrapping_ours_with_the_same_text_is_shown_whole() -> None:
    try:
        try:
            raise SpecError("orders", ["source.table: missing"])
        except SpecError as exc:
            raise RuntimeError(str(exc)) from exc
    except RuntimeError as wrapped:
        assert safe_error_text(wrapped) == f"RuntimeError: {wrapped}"


def test_a_wrapper_that_adds_text_to_ours_is_not_trusted() -> None:
    try:
        try:
            raise FatalError("ours")
        except FatalError as exc:
            raise RuntimeError(f"ours plus {SECRET}") from exc
    except RuntimeError as wrapped:
        assert safe_error_text(wrapped) == "RuntimeError (details in the task log)"


def test_our_error_text_is_bounded() -> None:
    assert len(safe_error_text(FatalError("x" * 10_000))) == MAX_CHARS


def test_a_database_error_shows_its_sqlstate_and_objects_never_the_failing_row() -> None:
    error = DatabaseError(
        f"null value in column \"email\" violates not-null constraint\nDETAIL: Failing row contains (1, {SECRET}).",
        sqlstate="23502", schema_name="sales", table_name="orders", column_name="email",
    )  # fmt: skip
    text = safe_error_text(error)
    assert text == (
        "DatabaseError [SQLSTATE 23502] on table sales.orders, column email "
        "(the value is not shown; details in the task log)"
    )
    assert SECRET not in text


def test_a_database_error_names_its_constraint_and_a_table_without_schema() -> None:
    error = DatabaseError(
        f'duplicate key value "{SECRET}"', sqlstate="23505", table_name="t", constraint_name="t_pkey"
    )
    assert describe_database_error(error) == (
        "DatabaseError [SQLSTATE 23505] on table t, constraint t_pkey (the value is not shown; details in the task log)"
    )


def test_any_other_error_shows_only_its_type() -> None:
    assert safe_error_text(ValueError(f"invalid literal: {SECRET}")) == "ValueError (details in the task log)"
    assert safe_error_text(DatabaseError(SECRET)) == "DatabaseError (details in the task log)"  # no SQLSTATE
    assert describe_database_error(ValueError(SECRET)) is None


def test_no_error_is_an_unknown_error() -> None:
    assert safe_error_text(None) == "unknown error (see the task log)"
