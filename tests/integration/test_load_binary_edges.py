"""Binary COPY against CSV on edge values (precision limits, old/far dates, NULL-only columns)."""

from __future__ import annotations

import pytest
from helpers import execute, make_spec, new_run, rows, sync
from test_load_binary import _spy_encode

from syncgate.batch.staging import staging_table
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}, "source__deletes": "none"}

EDGES = """
CREATE TABLE public.orders (
    id bigint PRIMARY KEY, n0 numeric(15,0), n15 numeric(15,15), n1 numeric(1,0), nsp numeric(3,5),
    ts timestamptz, t timestamp, d date, f4 real, f8 double precision, b boolean,
    null_int integer, null_text text,
    c character(3), j jsonb, updated_at timestamptz NOT NULL
)
"""
EDGE_ROWS = """
INSERT INTO public.orders VALUES
 (1, 999999999999999, 0.999999999999999, 9, 0.00999, '0001-01-01 00:00:00+00', '1969-12-31 23:59:59.5',
  '0001-01-01', '-0', 'Infinity', true, NULL, NULL, 'a', '{"a": "\u00e9", "b": [1, null]}', '2026-01-01'),
 (2, -999999999999999, -0.999999999999999, -9, -0.00999, '9999-12-31 23:59:59.999999+00',
  '1900-02-28 12:00:00.000001', '9999-12-31', 'NaN', '-Infinity', false, NULL, NULL, '',
  '""', '2026-01-01'),
 (3, 0, 0, 0, 0, '1999-12-31 23:59:59.999999+00', '2000-01-01 00:00:00', '1999-12-31', 1.17549435e-38,
  4.9e-324, NULL, NULL, NULL, NULL, 'null', '2026-01-01'),
 (4, 1, 0.000000000000001, -1, 0.00001, '1582-10-15 00:00:00+00', '1582-10-04 23:59:59', '1582-10-04',
  3.4028235e38, -1.7976931348623157e308, true, NULL, NULL, 'abc', '{}', '2026-01-01')
"""
AS_TEXT = (
    "SELECT id, n0::text, n15::text, n1::text, nsp::text, ts::text, t::text, d::text, f4::text, f8::text, "
    "b, null_int, null_text, c::text, j::text FROM {} ORDER BY id"
)


def test_edge_values_stage_identically_in_binary_and_csv(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, "SET TIME ZONE 'UTC'", EDGES, EDGE_ROWS)
    spec = make_spec(**PLAIN)
    staged = {}
    sent = _spy_encode(monkeypatch)
    for fmt in ("csv", "binary"):
        monkeypatch.setenv("SYNCGATE_LOAD_FORMAT", fmt)
        run = new_run(spec)
        load(spec, run, transform(spec, extract(spec, run)))
        staged[fmt] = rows(dst, AS_TEXT.format(staging_table(run).sql.as_string(None)))
    assert sent == [True]  # the CSV run never calls the encoder; the binary one sends its group in binary
    assert staged["binary"] == staged["csv"]
    assert staged["binary"] == rows(src, AS_TEXT.format("public.orders"))


def test_numeric_with_scale_above_16_still_loads(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, tiny numeric(15,17), updated_at timestamptz NOT NULL)",
        "INSERT INTO public.orders VALUES (1, 0.00123456789012345, '2026-01-01'), (2, NULL, '2026-01-01')",
    )
    sync(make_spec(**PLAIN))
    query = "SELECT id, tiny::text FROM {} ORDER BY id"
    assert rows(dst, query.format("analytics.orders")) == rows(src, query.format("public.orders"))
