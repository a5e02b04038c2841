"""Coerce JSON values to declared PostgreSQL types, and infer types for undeclared fields.

Values land in Parquet as Arrow ints / floats / booleans or as text that PostgreSQL parses on
load (see ``syncgate.arrow_types``). A value that cannot be represented raises
``CoerceError`` with a reason that names the expected type and the JSON kind it got, never the
value itself (it may be PII).
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from syncgate.errors import FatalError

_INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_ALIASES = {
    "int2": "smallint", "int4": "integer", "int": "integer", "int8": "bigint", "serial": "integer",
    "bigserial": "bigint", "float4": "real", "float8": "double precision", "float": "double precision",
    "bool": "boolean", "decimal": "numeric", "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone", "varchar": "character varying", "char": "character",
    "bpchar": "character",
}  # fmt: skip
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _json_encoder() -> Any:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, built once.

    ``dumps`` builds an encoder per call; this is the C encoder ``JSONEncoder.encode`` uses,
    made once, without the circular-reference check (decoded JSON has no cycles).
    """
    from json import encoder

    base = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    c_make_encoder = getattr(encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return base.encode
    make = c_make_encoder(None, base.default, encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(make(value, 0))


encode_json = _json_encoder()


class CoerceError(FatalError, ValueError):
    """A value that the column's type cannot hold; the message never quotes the value.

    The extract turns it into a reject. Fatal should one ever escape: the same value fails the
    same way on a retry. Still a ``ValueError``, which ``coerce`` relies on.
    """


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value: null, boolean, integer, number, string, object, array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def infer_type(kind: str) -> str:
    """The PostgreSQL type an undeclared field of this JSON kind lands as."""
    return {
        "integer": "bigint",
        "number": "double precision",
        "boolean": "boolean",
        "object": "jsonb",
        "array": "jsonb",
    }.get(kind, "text")


@functools.lru_cache(maxsize=256)
def base_type(pg_type: str) -> tuple[str, tuple[int, ...]]:
    """``numeric(12,2)`` -> (``numeric``, [12, 2]); aliases resolved, arrays kept as ``x[]``."""
    match = re.match(
        r"^([a-z_][a-z0-9_ ]*?)\s*(?:\(([\d,\s]+)\))?\s*(with(?:out)? time zone)?(\[\])?$", pg_type.strip()
    )
    if not match:
        return pg_type, ()
    name = match.group(1).strip()
    zone = match.group(3)
    name = _ALIASES.get(name, name)
    if zone and name in ("timestamp", "time"):
        name = f"{name} {zone}"
    elif name == "timestamp":
        name = "timestamp without time zone"
    mods = tuple(int(m) for m in match.group(2).split(",")) if match.group(2) else ()
    return name + (match.group(4) or ""), mods


def coerce(value: Any, pg_type: str) -> Any:
    """``value`` as it lands for a column of ``pg_type``; None stays None."""
    if value is None:
        return None
    name, mods = base_type(pg_type)
    # Fast paths for the common cases (most values already have their column's JSON kind).
    if type(value) is str and name == "text":
        return value
    if type(value) is int and name in _INT_RANGES and -_INT_RANGES[name] <= value < _INT_RANGES[name]:
        return value
    kind = json_kind(value)
    try:
        if name in _INT_RANGES:
            return _integer(value, kind, _INT_RANGES[name])
        if name in ("real", "double precision"):
            return _float(value, kind)
        if name == "numeric":
            return _numeric(value, kind, mods)
        if name == "boolean":
            return _boolean(value, kind)
        if name in ("json", "jsonb"):
            return encode_json(value)
        if name in ("text", "character varying", "character"):
            return _text(value, kind, mods[0] if mods else None)
        if name.startswith(("timestamp", "date", "time")):
            return _temporal(value, kind, name)
        if name.endswith("[]"):
            return _array(value, kind, name.removesuffix("[]"))
        if name == "uuid":
            return str(uuid.UUID(value)) if kind == "string" else _fail(kind)
    except CoerceError:
        raise
    except (ValueError, TypeError, ArithmeticError):
        _fail(kind)
    # Any other type travels as text and PostgreSQL validates it on load.
    return value if kind == "string" else json.dumps(value)


def _array(value: Any, kind: str, element: str) -> str:
    """A JSON array as a PostgreSQL array literal, each element coerced to the element type."""
    if kind != "array":
        return _fail(kind)
    parts = []
    for item in value:
        landed = coerce(item, element)
        if landed is None:
            parts.append("NULL")
        else:
            text = str(landed).lower() if isinstance(landed, bool) else str(landed)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def _fail(kind: str) -> Any:
    raise CoerceError(f"got a JSON {kind}")


def _integer(value: Any, kind: str, bound: int) -> int:
    if kind == "integer":
        number = int(value)
    elif kind == "number" and float(value).is_integer():
        number = int(value)
    elif kind == "string" and _INTEGER_TEXT.match(value):
        number = int(value)
    else:
        return _fail(kind)
    if not -bound <= number < bound:
        raise CoerceError(f"got a JSON {kind} out of range")
    return number


def _float(value: Any, kind: str) -> float:
    if kind in ("integer", "number"):
        return float(value)
    if kind == "string":
        return float(value.strip())  # NaN / Infinity spelled out are valid PostgreSQL floats
    return _fail(kind)


def _numeric(value: Any, kind: str, mods: tuple[int, ...]) -> str:
    if kind == "integer":
        number = Decimal(value)
    elif kind == "number":
        if not math.isfinite(value):
            return _fail(kind)
        number = Decimal(repr(value))
    elif kind == "string":
        number = Decimal(value.strip())
    else:
        return _fail(kind)
    if mods and number.is_finite():
        precision, scale = mods[0], mods[1] if len(mods) > 1 else 0
        rounded = number.quantize(Decimal(1).scaleb(-scale))
        if rounded.adjusted() >= precision - scale:
            raise CoerceError(f"got a JSON {kind} too large for numeric({precision},{scale})")
    return str(number)


def _boolean(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return bool(value)
    if kind == "integer" and value in (0, 1):
        return bool(value)
    if kind == "string":
        text = value.strip().lower()
        if text in ("true", "t", "yes", "y", "1", "on"):
            return True
        if text in ("false", "f", "no", "n", "0", "off"):
            return False
    return _fail(kind)


def _text(value: Any, kind: str, length: int | None) -> str:
    text = value if kind == "string" else json.dumps(value, ensure_ascii=False)
    if length is not None and len(text) > length:
        raise CoerceError(f"got a JSON {kind} longer than {length} characters")
    return text


def _temporal(value: Any, kind: str, name: str) -> str:
    if kind != "string":
        return _fail(kind)
    text = value.strip()
    try:
        if name == "date":
            date.fromisoformat(text)
        elif name.startswith("time ") or name == "time":
            time.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        raise CoerceError(f"got a JSON string that is not an ISO-8601 {name}") from None
    return text  # PostgreSQL parses the ISO form exactly; no rounding on the way


def sort_key(value: Any) -> tuple[int, Any]:
    """Order cursor values: ISO timestamps as instants, numbers as numbers, else as text."""
    if type(value) is str:
        return _text_key(value)  # the usual cursor, met twice per record (paging, then landing)
    if isinstance(value, bool) or value is None:
        return (3, str(value))
    if isinstance(value, int):
        return (1, value)  # exact: a float loses integers above 2**53
    if isinstance(value, float):
        return (1, value)
    return _text_key(str(value))


@functools.lru_cache(maxsize=4096)
def _text_key(text: str) -> tuple[int, Any]:
    if not (text[:1].isdigit() and text[4:5] == "-"):  # an ISO date is not digits only
        # Digits only is a number, never a date: the watermark of an integer cursor such as a
        # YYYYMMDD key is stored as text ("20250315") and must still order like the records' ints.
        if _INTEGER_TEXT.match(text):
            return (1, int(text))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return (1, float(text))
        except ValueError:
            return (2, text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (0, moment)
