"""Coerce a page column by column: the per-row ``coerce`` answers, at Arrow speed.

Each column is checked as a whole first (the JSON kinds it holds; for numerics, dates and
timestamps a vectorised pattern of text forms that ``coerce`` returns unchanged). Values the
check cannot vouch for go through ``coerce`` one by one, so every landed value and every
reject reason is exactly the per-row path's (``tests/unit/http/test_columns.py`` holds the two
paths to each other).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from syncgate.arrow_types import arrow_type
from syncgate.arrow_values import from_list
from syncgate.connectors.http.coerce import CoerceError, base_type, coerce, encode_json

if TYPE_CHECKING:
    pass

_NONE = type(None)
_INTS = ("smallint", "integer", "bigint")
_FLOATS = ("real", "double precision")
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
# A subset of what datetime.fromisoformat accepts; the day of the month is checked per
# distinct date in Python (a pattern cannot know February).
_TIMESTAMP = (
    rf"^{_DATE}[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{{1,6}})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$"
)


def coerce_columns(
    rows: list[dict[str, Any]], columns: list[tuple[str, str]], primary_key: list[str]
) -> tuple[list[Any], dict[int, str]]:
    """Per column the landed values (a list or an Arrow array, one per row), and reject reasons.

    A reason is the one the per-row path gives: a null primary key first, else the first
    column (in column order) whose value cannot be coerced; that row's landed values are
    meaningless and must be dropped.
    """
    reasons: dict[int, str] = {}
    for name in primary_key:
        for i, row in enumerate(rows):
            if row.get(name) is None:
                reasons.setdefault(i, f"primary key field {name!r} is missing or null")
    landed: list[Any] = []
    for name, pg_type in columns:
        values = [row.get(name) for row in rows]
        failures: dict[int, str] = {}
        landed.append(coerce_column(values, pg_type, failures))
        for i, reason in failures.items():
            reasons.setdefault(i, f"field {name!r}: expected {pg_type}, {reason}")
    return landed, reasons


def coerce_column(values: list[Any], pg_type: str, failures: dict[int, str]) -> Any:
    """``coerce`` of every value; failures (row index -> CoerceError text) land as None."""
    import pyarrow as pa

    name, mods = base_type(pg_type)
    kinds = set(map(type, values))
    arrow = arrow_type(pg_type)
    try:
        if name in _INTS and kinds <= {int, _NONE}:
            return from_list(values, arrow)  # raises when a value is out of range
        if (name in _FLOATS and kinds <= {float, _NONE}) or (name == "boolean" and kinds <= {bool, _NONE}):
            return from_list(values, arrow)
        if name == "text" and kinds <= {str, _NONE}:
            return from_list(values, arrow)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass  # one value does not fit: per value below, for the exact reason
    if name in ("json", "jsonb"):
        return [None if v is None else encode_json(v) for v in values]
    check = _text_check(name, mods) if kinds <= {str, _NONE} else None
    if check is not None:
        array = from_list(values, pa.string())
        unsure = check(array, values)
        if not unsure:
            return array
        out = list(values)
        _per_value(out, values, unsure, pg_type, failures)
        return out
    out = [None] * len(values)
    _per_value(out, values, range(len(values)), pg_type, failures)
    return out


def _per_value(
    out: list[Any], values: list[Any], indexes: Any, pg_type: str, failures: dict[int, str]
) -> None:
    for i in indexes:
        try:
            out[i] = coerce(values[i], pg_type)
        except CoerceError as exc:
            out[i] = None
            failures[i] = str(exc)


def _text_check(name: str, mods: tuple[int, ...]) -> Callable[[Any, list[Any]], list[int]] | None:
    """For text values of type ``name``: a function giving the indexes ``coerce`` may change."""
    if name == "numeric":
        pattern = _numeric_pattern(mods)
        return None if pattern is None else functools.partial(_unmatched, pattern=pattern, dates=False)
    if name.startswith("timestamp"):
        return functools.partial(_unmatched, pattern=_TIMESTAMP, dates=True)
    if name == "date":
        return functools.partial(_unmatched, pattern=rf"^{_DATE}$", dates=True)
    return None


@functools.lru_cache(maxsize=64)
def _numeric_pattern(mods: tuple[int, ...]) -> str | None:
    """Decimal text that ``coerce`` returns as is: ``str(Decimal(s)) == s`` and within ``mods``.

    At most 6 fraction digits (``str(Decimal)`` turns smaller magnitudes into exponents), no
    rounding by the scale, fewer integer digits than precision - scale, precision within the
    28 digits of the default decimal context.
    """
    if not mods:
        return r"^-?(?:0|[1-9]\d*)(?:\.\d{1,6})?$"
    precision, scale = mods[0], mods[1] if len(mods) > 1 else 0
    if not 0 <= scale <= precision <= 28:
        return None
    digits = precision - scale
    whole = "0" if digits == 0 else rf"(?:0|[1-9]\d{{0,{digits - 1}}})"
    fraction = rf"(?:\.\d{{1,{min(scale, 6)}}})?" if scale else ""
    return rf"^-?{whole}{fraction}$"


def _unmatched(array: Any, values: list[Any], *, pattern: str, dates: bool) -> list[int]:
    """Indexes of non-null values not matching ``pattern`` (or with an impossible date)."""
    import pyarrow.compute as pc

    matched = pc.match_substring_regex(array, pattern)
    if pc.all(matched).as_py() is not False:  # all matched (nulls are skipped)
        unsure: list[int] = []
    else:
        unsure = [i for i, ok in enumerate(matched.to_pylist()) if ok is False]
    if dates:
        bad = {d for d in {v[:10] for v in values if v is not None} if not _valid_date(d)}
        if bad:
            skip = set(unsure)
            unsure += [i for i, v in enumerate(values) if v is not None and v[:10] in bad and i not in skip]
            unsure.sort()
    return unsure


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
