"""Binary COPY into staging: the same staged rows as CSV, switching format per row group."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import execute, make_spec, new_run, rows, sync

from syncgate.batch.staging import staging_table
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform
from syncgate.staging import copy_binary

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}, "source__deletes": "none"}

ENCODABLE = """
CREATE TABLE public.orders (
    id bigint PRIMARY KEY, small smallint, whole integer, ratio real, score double precision,
    flag boolean, note text, label varchar(20), code character(5), doc json, attrs jsonb,
    price numeric(12,2), fine numeric(15,5), share numeric(4,4), units numeric(5,0),
    day date, at timestamptz, local_at timestamp(3), updated_at timestamptz NOT NULL
)
"""
# 300 rows of ordinary values (NULLs, empty strings, unicode, negatives, zeros, extremes).
PLAIN_ROWS = """
INSERT INTO public.orders
SELECT g, (g % 7 - 3) * 10000, CASE WHEN g % 5 = 0 THEN NULL ELSE g * 7919 - 1000000 END,
       g / 7.0, CASE WHEN g % 11 = 0 THEN 'NaN'::float8 ELSE g * -1.25e-3 END, g % 3 = 0,
       CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'Größe "' || g || E'",\\n x' ELSE 'n' || g END,
       CASE WHEN g % 6 = 0 THEN NULL ELSE 'ünï ' || g END, CASE WHEN g % 9 = 0 THEN NULL ELSE 'c' || g % 10 END,
       CASE WHEN g % 8 = 0 THEN NULL ELSE ('{"g": ' || g || '}')::json END,
       CASE WHEN g % 10 = 0 THEN NULL ELSE jsonb_build_object('g', g, 's', 'ä' || g, 'l', jsonb_build_array(g, null)) END,
       CASE WHEN g % 12 = 0 THEN NULL ELSE round((g - 150) * 3333.337, 2) END,
       (g - 150) * 98765.43219, CASE WHEN g % 2 = 0 THEN -0.9999 ELSE g / 1000.0 END, (g - 150) * 333,
       date '1970-01-01' + g * 97, timestamptz '1999-12-31 23:59:59.999999+00' + g * interval '37 days 1.000001 s',
       CASE WHEN g % 13 = 0 THEN NULL ELSE timestamp '2000-01-01 00:00:00' - g * interval '1 day 0.001 s' END,
       '2026-01-01'
FROM generate_series(1, 300) AS g
"""
EVERY_COLUMN_AS_TEXT = (
    "SELECT id, small, whole, ratio::text, score::text, flag, note, label, code::text, doc::text, "
    "attrs::text, price::text, fine::text, share::text, units::text, day::text, at::text, "
    "local_at::text FROM {} ORDER BY id"
)


def _spy_encode(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per row group, whether it went in binary (True) or fell back to CSV."""
    sent: list[bool] = []
    real = copy_binary.encode

    def spy(*args: Any) -> Any:
        data = real(*args)
        sent.append(data is not None)
        return data

    monkeypatch.setattr(copy_binary, "encode", spy)
    return sent


def _staged(dst: str, spec: Any, monkeypatch: pytest.MonkeyPatch, load_format: str) -> list[tuple[Any, ...]]:
    monkeypatch.setenv("SYNCGATE_LOAD_FORMAT", load_format)
    run = new_run(spec)
    load(spec, run, transform(spec, extract(spec, run)))
    return rows(dst, EVERY_COLUMN_AS_TEXT.format(staging_table(run).sql.as_string(None)))


def test_binary_and_csv_stage_the_same_rows(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, ENCODABLE, PLAIN_ROWS)
    spec = make_spec(**PLAIN)
    sent = _spy_encode(monkeypatch)
    by_csv = _staged(dst, spec, monkeypatch, "csv")
    assert sent == []
    by_binary = _staged(dst, spec, monkeypatch, "binary")
    assert sent and all(sent)  # every row group really went in binary
    assert len(by_binary) == 300
    assert by_binary == by_csv
    assert by_binary == rows(src, EVERY_COLUMN_AS_TEXT.format("public.orders"))


def test_row_groups_switch_format_within_a_stream_and_lose_nothing(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        ENCODABLE,
        PLAIN_ROWS,
        # Values only PostgreSQL can parse, in some row groups only.
        "UPDATE public.orders SET at = 'infinity' WHERE id IN (40, 41, 200)",
        "UPDATE public.orders SET price = 'NaN', day = '0044-03-15 BC' WHERE id = 120",
        "UPDATE public.orders SET local_at = '10000-01-01 00:00' WHERE id = 299",
    )
    monkeypatch.setenv("SYNCGATE_BATCH_BYTES", "2048")  # many small row groups ...
    monkeypatch.setenv("SYNCGATE_LOAD_STREAMS", "2")  # ... over two sessions
    sent = _spy_encode(monkeypatch)
    sync(make_spec(**PLAIN))
    assert True in sent and False in sent
    assert rows(dst, EVERY_COLUMN_AS_TEXT.format("analytics.orders")) == rows(
        src, EVERY_COLUMN_AS_TEXT.format("public.orders")
    )


def test_a_cast_column_still_fails_the_load_on_a_bad_value(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.errors import FatalError

    src = databases["src"]
    execute(
        src,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, code text, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.orders VALUES (1, '12', '2026-01-01'), (2, 'twelve', '2026-01-01')",
    )
    spec = make_spec(**{**PLAIN, "transform": {"cast": {"code": "integer"}}})
    sent = _spy_encode(monkeypatch)
    run = new_run(spec)
    with pytest.raises(FatalError, match="could not be loaded"):
        load(spec, run, transform(spec, extract(spec, run)))
    assert sent == []  # PostgreSQL parses cast text itself: the file went as CSV


def test_a_value_too_long_for_a_binary_encoded_column_fails_the_load_without_echoing_it(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.errors import FatalError

    execute(
        databases["src"],
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, note text, updated_at timestamptz NOT NULL)",
        "INSERT INTO public.orders VALUES (1, 'ok', '2026-01-01'), (2, 'secret-too-long', '2026-01-01')",
    )
    spec = make_spec(**{**PLAIN, "transform": {"cast": {"note": "character varying(3)"}}})
    sent = _spy_encode(monkeypatch)
    run = new_run(spec)
    with pytest.raises(FatalError, match="could not be loaded") as caught:
        load(spec, run, transform(spec, extract(spec, run)))
    assert sent == [True]  # text travels in binary; PostgreSQL still enforces the length
    assert "secret" not in str(caught.value)
