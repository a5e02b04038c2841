"""The column-wise fast path gives exactly the per-row path's table and rejects."""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from syncgate.connectors.http.coerce import CoerceError, coerce
from syncgate.connectors.http.columns import _TIMESTAMP, _numeric_pattern, coerce_column
from syncgate.connectors.http.drift import SchemaTracker
from syncgate.connectors.http.page import PageRules, shape_page
from syncgate.connectors.http.records import MISSING, Flattener, flatten

pytestmark = pytest.mark.unit

TYPES = [
    "bigint", "integer", "smallint", "real", "double precision", "numeric", "numeric(5,2)",
    "numeric(2,2)", "numeric(40,2)", "numeric(4)", "boolean", "text", "varchar(5)", "character(3)",
    "jsonb", "json", "timestamp with time zone", "timestamp", "timestamptz", "date", "time", "uuid",
    "text[]", "bigint[]", "interval",
]  # fmt: skip

VALUES: list[Any] = [
    None, 0, 1, -1, 7, 2**15 - 1, 2**15, -(2**15), 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), 2**70,
    True, False, 0.0, 1.0, 1.5, -2.25, 1e300, float("nan"), float("inf"), 3.0,
    "", " ", "x", "abc", "abcdef", "17", " 42 ", "-3", "1.5", "12.345", "123.4", "999.99", "999.995",
    "1000", "-0", "-0.00", "0.0000001", "0.000001", "1e5", "+5", "0012", "NaN", "Infinity", "0.5", ".5",
    "12345678901234567890123456789012.50", "true", "no", "on", "2026-01-01", "2026-02-29", "2024-02-29",
    "2026-13-01", "0000-01-01", "2026-01-01T10:00:00Z", "2026-01-01 10:00:00", "2026-01-01T10:00:00.1+02:00",
    "2026-01-01T10:00:00.1234567Z", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:00",
    "2026-01-01T10:00:00+24:00", " 2026-01-01T10:00:00Z", "20260101T100000", "10:30:00",
    "0d6f6c4e-8a4b-4e8e-9a61-0c1b6c1d2e3f", "not-a-uuid", "日本語", 'q"uote\\',
    {}, {"a": [1, None, "é"]}, [], [1, 2], ["a", None, "b,c"], [True], [[1]], {"nested": {"x": 1.5}},
]  # fmt: skip


def per_value(values: list[Any], pg_type: str) -> tuple[list[Any], dict[int, str]]:
    out: list[Any] = []
    failures: dict[int, str] = {}
    for i, value in enumerate(values):
        try:
            out.append(coerce(value, pg_type))
        except CoerceError as exc:
            out.append(None)
            failures[i] = str(exc)
    return out, failures


def as_list(landed: Any) -> list[Any]:
    return landed if isinstance(landed, list) else landed.to_pylist()


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal, NaN included (an Arrow round trip keeps NaN but NaN != NaN)."""
    return json.dumps(a, default=str) == json.dumps(b, default=str)


@pytest.mark.parametrize("pg_type", TYPES)
def test_a_column_of_any_values_lands_as_coerce_lands_each(pg_type: str) -> None:
    import pyarrow as pa

    from syncgate.arrow_types import arrow_type

    rnd = random.Random(pg_type)
    columns = [VALUES, *[[rnd.choice(VALUES) for _ in range(40)] for _ in range(30)]]
    # Columns of one kind take the whole-column paths.
    columns += [
        [v for v in VALUES if type(v) is kind] + [None] for kind in (int, float, bool, str, dict, list)
    ]
    for values in columns:
        expected, expected_failures = per_value(values, pg_type)
        failures: dict[int, str] = {}
        landed = coerce_column(values, pg_type, failures)
        assert failures == expected_failures
        ok = [i for i in range(len(values)) if i not in failures]
        got = as_list(landed)
        if isinstance(landed, list):
            assert same([got[i] for i in ok], [expected[i] for i in ok])
        else:
            assert landed.type == arrow_type(pg_type)
        # The same Arrow values once typed: what lands in Parquet.
        typed = pa.array([expected[i] for i in ok], type=arrow_type(pg_type)).to_pylist()
        got_typed = pa.array([got[i] for i in ok], type=arrow_type(pg_type)).to_pylist()
        assert same(got_typed, typed)


def test_text_the_patterns_accept_comes_back_unchanged() -> None:
    rnd = random.Random(7)
    digits = "0123456789"
    for mods in [(), (12, 2), (5, 2), (2, 2), (4,), (4, 0), (28, 6), (10, 9)]:
        import re

        pattern = _numeric_pattern(mods)
        assert pattern is not None
        pg_type = f"numeric({','.join(map(str, mods))})" if mods else "numeric"
        for _ in range(3000):
            text = rnd.choice(["", "-"]) + "".join(rnd.choice(digits) for _ in range(rnd.randint(1, 12)))
            if rnd.random() < 0.7:
                text += "." + "".join(rnd.choice(digits) for _ in range(rnd.randint(1, 8)))
            if re.match(pattern, text):
                assert coerce(text, pg_type) == text and str(Decimal(text)) == text
    assert _numeric_pattern((40, 2)) is None and _numeric_pattern((2, 3)) is None
    import re

    for _ in range(3000):
        text = (
            f"{rnd.randint(0, 9999):04d}-{rnd.randint(0, 13):02d}-{rnd.randint(0, 32):02d}"
            f"{rnd.choice('T t')}{rnd.randint(0, 25):02d}:{rnd.randint(0, 61):02d}:{rnd.randint(0, 61):02d}"
            + rnd.choice(["", ".1", ".123456", ".1234567"])
            + rnd.choice(["", "Z", "+02:00", "-23:59", "+24:00", "+0200"])
        )
        if re.match(_TIMESTAMP, text):
            try:
                datetime.fromisoformat(text[:10])
            except ValueError:
                continue  # an impossible day: the Python check sends it to coerce
            assert coerce(text, "timestamptz") == text


def page(rnd: random.Random, start: int) -> list[dict[str, Any]]:
    """Records with nulls, bad values, nested paths, arrays and objects, and kinds that change."""
    out = []
    for i in range(start, start + 60):
        record: dict[str, Any] = {
            "id": None if rnd.random() < 0.03 else i,
            "email": rnd.choice(["a@x", None, 17, "b@x"]),
            "tier": rnd.choice([1, 2, None, "gold", 2.0, 2**40, True]),
            "score": rnd.choice([1.5, None, 2, "3.5", "x"]),
            "active": rnd.choice([True, False, None, "yes", 2]),
            "amount": rnd.choice(["12.50", "1234.567", None, 3, "x", "99999.99", "-0.10"]),
            "address": rnd.choice([{"city": "Oslo", "zip": "0150"}, {"city": None}, {}, None, "flat", [1]]),
            "tags": rnd.choice([["a", "b"], [], None, "t", [{"k": 1}]]),
            "updated_at": rnd.choice(
                [f"2026-01-{1 + i % 28:02d}T10:00:00Z", "2026-02-30T00:00:00Z", "yesterday", None, 5]
            ),
            "birthday": rnd.choice(["1990-05-01", "1990-02-29", None, "1990-5-1"]),
            "first-name": rnd.choice(["Ada", None, 3]),
        }
        if rnd.random() < 0.2:
            record["late"] = rnd.choice([1, "one", None, {"x": 1}])  # a field seen only now and then
        if rnd.random() < 0.2:
            del record["score"]
        out.append(record)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_shape_page_columnar_equals_the_per_row_path(seed: int) -> None:
    rnd = random.Random(seed)
    pages = [page(rnd, n * 60) for n in range(4)]
    reference = {
        "id": {"kind": "integer", "type": "bigint"},
        "tier": {"kind": "integer", "type": "bigint"},
        "score": {"kind": "number", "type": "double precision"},
    }
    declared = {"email": "text", "amount": "numeric(7,2)", "updated_at": "timestamptz", "birthday": "date"}
    hashed = {"email": b"k"} if seed % 2 else {}
    rules = {
        "primary_key": ["id"],
        "cursor": "updated_at",
        "declared_paths": {
            "city": "address.city",
            "zip": "address.zip",
            "tag0": "tags.0",
            "updated_at": "updated_at",
        },
        "top_level": True,
        "hashed": hashed,
        "lower": "2026-01-03T00:00:00Z" if seed == 3 else None,
        "skip_keys": {"65", "66"} if seed == 4 else set(),
        "boundary_keys": seed >= 4,
    }
    results = []
    for columnar in (False, True):
        tracker = SchemaTracker("f", "evolve", copy.deepcopy(reference), {**declared}, None)
        progress: dict[str, Any] = {}
        shaped = [
            shape_page(copy.deepcopy(p), PageRules(**rules), tracker, progress, columnar=columnar)
            for p in pages
        ]
        results.append((shaped, progress, tracker.state))
    (rows_pages, rows_progress, rows_state), (col_pages, col_progress, col_state) = results
    assert col_progress == rows_progress and col_state == rows_state
    assert rows_progress["rejected"] > 0 and rows_progress["rows"] > 0  # both kinds exercised
    for (row_table, row_rejects), (col_table, col_rejects) in zip(rows_pages, col_pages, strict=True):
        assert col_rejects == row_rejects
        assert (row_table is None) == (col_table is None)
        if row_table is not None and col_table is not None:
            assert col_table.schema.equals(row_table.schema, check_metadata=True)
            assert col_table.equals(row_table)


@pytest.mark.parametrize(
    ("values", "arrow"),
    [
        (["a", None, "", "日本語"], "string"),
        (["a", None, "", "bc", None], "string"),
        (["ascii", "only", ""], "string"),
        ([None, "é", "x"], "string"),
        ([1, None, -(2**63), 2**63 - 1], "int64"),
        ([1, None, -(2**31)], "int32"),
        ([None, 2**15 - 1], "int16"),
        ([1.5, None, float("nan"), float("inf"), 1e300], "float"),
        ([1.5, None, float("-inf")], "double"),
        ([True, None, False] * 5, "bool"),
        ([], "int64"),
        ([None, None], "string"),
        ([1, "x"], "string"),  # not a landed kind: pa.array decides (and refuses)
    ],
)
def test_from_list_is_pa_array(values: list[Any], arrow: str) -> None:
    import pyarrow as pa

    from syncgate.arrow_values import from_list

    kind = pa.type_for_alias(arrow)
    try:
        expected = pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        with pytest.raises(type(exc)):
            from_list(values, kind)
        return
    got = from_list(values, kind)
    got.validate(full=True)
    assert (
        got.type == kind
        and same(got.to_pylist(), expected.to_pylist())
        and got.null_count == expected.null_count
    )


def test_from_list_rounds_floats_as_pa_array_does() -> None:
    import pyarrow as pa

    from syncgate.arrow_values import from_list

    rnd = random.Random(3)
    values: list[Any] = [rnd.uniform(-1e39, 1e39) * rnd.random() ** 40 for _ in range(2000)] + [None, -0.0]
    for kind in (pa.float32(), pa.float64()):
        assert from_list(values, kind).equals(pa.array(values, type=kind))


def test_from_list_refuses_integers_out_of_range() -> None:
    import pyarrow as pa

    from syncgate.arrow_values import from_list

    for values, kind in [([2**15], pa.int16()), ([-(2**31) - 1], pa.int32()), ([2**63], pa.int64())]:
        with pytest.raises(OverflowError):
            from_list(values, kind)


def test_flattener_is_flatten_without_missing() -> None:
    declared = {"city": "address.city", "zip": "address.zip", "first": "tags.0", "deep": "a.b.c", "id": "id"}
    records = [
        {"id": 7, "address": {"city": "Oslo"}, "first-name": "Ada", "tags": ["x"], "a": {"b": {"c": 1}}},
        {"id": 8, "address": None, "tags": [], "a": {"b": []}, "city": "top-level city, path missing"},
        {"a-b": 1, "a_b": 2, "9lives": 3, "address": "flat", "tags": {"0": "key, not index"}},
        {},
    ]
    for top_level in (True, False):
        flat = Flattener(declared, top_level)
        for record in records * 2:  # twice: the cached column names give the same rows
            expected = {k: v for k, v in flatten(record, declared, top_level).items() if v is not MISSING}
            row = flat(record)
            assert row == expected and list(row) == list(expected)
