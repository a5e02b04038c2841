"""Canonical values: one spelling per value, whichever side or driver produced it.

Sides disagree on representation (``numeric`` 100.00 from PostgreSQL, 100 from a JSON API,
``timestamptz`` in two time zones). Comparing canonical values keeps a representation
difference from looking like an edit, which would bounce between the sides forever.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID


def canonical(value: Any) -> Any:
    """A JSON value standing for ``value``: numbers normalised, times in UTC ISO 8601."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        return _number(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return value.isoformat(timespec="microseconds")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return str(value)


_NUMERIC = ("numeric", "decimal", "real", "double precision", "float", "integer", "bigint", "smallint", "int")


def typed(value: Any, pg_type: str | None) -> Any:
    """A value landed as PostgreSQL's text output, as the value its type names.

    Sources land many types as text (``numeric`` "750.00", ``timestamptz`` "2026-01-01
    10:00:00+00"), while a side's write returns typed values: both must canonicalise alike, or
    syncgate's own write would read back as an edit.
    """
    if not isinstance(value, str) or not pg_type:
        return value
    base = pg_type.split("(")[0].strip().lower()
    try:
        if base.startswith(_NUMERIC) and not base.endswith("[]"):
            return Decimal(value)
        if base.startswith("timestamp") and not base.endswith("[]"):
            return datetime.fromisoformat(value.strip())
        if base == "date":
            return date.fromisoformat(value.strip())
        if base == "boolean":
            return {"t": True, "true": True, "f": False, "false": False}.get(value.strip().lower(), value)
        if base in ("json", "jsonb"):
            return json.loads(value)
    except (ValueError, ArithmeticError):
        return value
    return value


def _number(value: float | Decimal) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    number = Decimal(str(value)) if isinstance(value, float) else value
    if not number.is_finite():
        return str(number)
    if number == number.to_integral_value():
        return int(number)
    return format(number.normalize(), "f")


def record_digest(values: dict[str, Any] | None) -> str:
    """A short digest of a canonical record (``None``: deleted)."""
    text = "null" if values is None else json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def record_key(values: dict[str, Any], match: list[str]) -> str:
    """The common identity of a record: its match fields' canonical values as text, in JSON.

    As text, because sides type one identity differently (an integer id here, its text there).
    """
    return json.dumps([_as_text(canonical(values.get(f))) for f in match], separators=(",", ":"))


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
