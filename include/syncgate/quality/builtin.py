"""Expectations every flow gets on top of its own: the batch contract."""

from __future__ import annotations

from typing import Any


def builtin_expectations(primary_key: list[str], expected_rows: int) -> list[dict[str, Any]]:
    """Primary key present and unique, and the staged row count equal to what was extracted."""
    meta = {"syncgate": "builtin"}
    checks: list[dict[str, Any]] = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}, "meta": meta}
        for c in primary_key
    ]
    if len(primary_key) == 1:
        checks.append(
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": primary_key[0]}, "meta": meta}
        )
    elif primary_key:
        checks.append(
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": primary_key},
                "meta": meta,
            }
        )
    checks.append(
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected_rows}, "meta": meta}
    )
    return checks


def describe(result: dict[str, Any]) -> str:
    """One line per failed expectation, for the task log and the error message."""
    kwargs = result.get("kwargs", {})
    target = kwargs.get("column") or ",".join(kwargs.get("column_list", [])) or "table"
    details = []
    for key in ("observed_value", "unexpected_count", "unexpected_percent"):
        if result.get(key) is not None:
            value = result[key]
            details.append(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}")
    suffix = f" ({', '.join(details)})" if details else ""
    severity = result.get("severity") or "critical"
    prefix = "" if severity == "critical" else f"[{severity}, not blocking] "
    return f"{prefix}{result['type']} on {target}{suffix}"
