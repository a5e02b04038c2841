"""The vectorised binary COPY encoder: exact bytes, and CSV for anything it cannot vouch for."""

from __future__ import annotations

import struct

import pyarrow as pa
import pytest

from syncgate.arrow_types import arrow_schema
from syncgate.staging import copy_binary

pytestmark = pytest.mark.unit


def _encode(columns: list[tuple[str, str]], values: list[list[object]]) -> bytes | None:
    schema = arrow_schema(columns)
    table = pa.table([pa.array(v, f.type) for v, f in zip(values, schema, strict=True)], schema=schema)
    encoders = copy_binary.plan(columns, {name for name, _ in columns})
    assert encoders is not None
    data = copy_binary.encode(table, encoders)
    return None if data is None else bytes(data)


def _field(payload: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if payload is None else struct.pack(">i", len(payload)) + payload


def test_rows_are_field_counts_then_length_prefixed_fields_with_nulls_as_minus_one() -> None:
    got = _encode(
        [("id", "bigint"), ("note", "text"), ("ok", "boolean"), ("doc", "jsonb")],
        [[1, None], ["Größe", ""], [True, None], ['{"a": 1}', None]],
    )
    row1 = b"\x00\x04" + _field(struct.pack(">q", 1)) + _field("Größe".encode()) + _field(b"\x01")
    row1 += _field(b'\x01{"a": 1}')
    row2 = b"\x00\x04" + _field(None) + _field(b"") + _field(None) + _field(None)
    assert got == row1 + row2


def test_numeric_becomes_base_10000_groups_with_sign_and_scale() -> None:
    got = _encode([("n", "numeric(5,2)")], [["-12.50", "0.00", "999.99", None]])
    # ndigits, weight, sign, dscale, then the groups: 12 | 5000 (the fraction padded to 4 digits)
    minus = struct.pack(">hhhhhh", 2, 0, 0x4000, 2, 12, 5000)
    zero = struct.pack(">hhhhhh", 2, 0, 0, 2, 0, 0)
    top = struct.pack(">hhhhhh", 2, 0, 0, 2, 999, 9900)
    assert got == b"".join(b"\x00\x01" + _field(v) for v in (minus, zero, top, None))


def test_timestamps_and_dates_count_from_2000() -> None:
    got = _encode(
        [("at", "timestamp with time zone"), ("day", "date"), ("local", "timestamp(3) without time zone")],
        [["2000-01-01 00:00:01.5+00"], ["1999-12-31"], ["2000-01-01 00:00:00"]],
    )
    expected = _field(struct.pack(">q", 1_500_000)) + _field(struct.pack(">i", -1)) + _field(b"\0" * 8)
    assert got == b"\x00\x03" + expected


@pytest.mark.parametrize(
    ("pg_type", "value"),
    [
        ("numeric(12,2)", "NaN"),
        ("numeric(12,2)", "Infinity"),
        ("numeric(12,2)", "1.5"),  # not PostgreSQL's own output for scale 2
        ("timestamp with time zone", "infinity"),
        ("timestamp with time zone", "0044-03-15 12:00:00+00 BC"),
        ("timestamp with time zone", "10000-01-01 00:00:00+00"),
        ("timestamp with time zone", "2026-01-01 00:00:00+02"),
        ("timestamp without time zone", "-infinity"),
        ("date", "0044-03-15 BC"),
        ("date", "infinity"),
    ],
)
def test_a_batch_with_a_value_outside_the_plain_shape_goes_as_csv(pg_type: str, value: str) -> None:
    assert _encode([("v", pg_type)], [["2000-01-01" if pg_type == "date" else None, value]]) is None


@pytest.mark.parametrize(
    "pg_type", ["numeric", "numeric(20,2)", "inet", "uuid", "interval", "time without time zone", "text[]"]
)
def test_types_without_an_encoder_keep_the_whole_file_on_csv(pg_type: str) -> None:
    assert copy_binary.plan([("id", "bigint"), ("v", pg_type)], {"id", "v"}) is None


def test_values_postgresql_must_parse_itself_keep_csv_unless_text() -> None:
    # A transform cast: the landed text is the spec author's, not PostgreSQL's output.
    assert copy_binary.plan([("v", "numeric(12,2)")], set()) is None
    assert copy_binary.plan([("v", "integer")], set()) is None
    assert copy_binary.plan([("v", "character varying(10)"), ("j", "jsonb")], set()) is not None


def test_encoding_never_imports_pandas() -> None:
    # pyarrow imports pandas the first time it converts a Python value (~0.3 s per load task).
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import pyarrow as pa
        from syncgate.staging import copy_binary
        columns = [("n", "bigint"), ("t", "text"), ("j", "jsonb"), ("b", "boolean"),
                   ("p", "numeric(12,2)"), ("ts", "timestamp with time zone"), ("d", "date")]
        from syncgate.arrow_values import from_list  # builds arrays without pandas
        text = lambda values: from_list(values, pa.string())
        table = pa.table({
            "n": from_list([7, None], pa.int64()), "t": text(["x", None]), "j": text(['{"a": 1}', None]),
            "b": from_list([True, None], pa.bool_()), "p": text(["-1.50", None]),
            "ts": text(["2026-01-02 03:04:05.5+00", None]), "d": text(["2026-01-02", None]),
        })
        encoders = copy_binary.plan(columns, frozenset(name for name, _ in columns))
        assert copy_binary.encode(table, encoders) is not None
        assert "pandas" not in sys.modules, "pandas was imported"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("pg_type", "binary"),
    [("numeric(12,2)", True), ("numeric(15,15)", True), ("numeric(15,0)", True),
     ("numeric(15,16)", True), ("numeric(15,17)", False), ("numeric(5,20)", False), ("numeric(16,2)", False)],
)  # fmt: skip
def test_numeric_travels_binary_only_while_its_digit_groups_fit_int64(pg_type: str, binary: bool) -> None:
    # numeric(5,20) (a scale above the precision) has 6 base-10000 groups: 10000**5 > 2**63.
    assert (copy_binary.plan([("n", pg_type)], frozenset({"n"})) is not None) is binary
