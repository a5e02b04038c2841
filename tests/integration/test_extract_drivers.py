"""The ADBC extract lands exactly what the COPY CSV extract lands; first loads stage LOGGED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import execute, make_spec, new_run, rows, sync

from syncgate.batch.staging import staging_table
from syncgate.connectors.postgres import adbc_out
from syncgate.connectors.postgres.source_sql import PARAMS, select
from syncgate.db.catalog import table_columns
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import DataQualityError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}, "source__deletes": "none"}

EVERY_TYPE = """
CREATE TABLE public.orders (
    id bigint PRIMARY KEY, small smallint, whole integer, ratio real, score double precision,
    flag boolean, note text, label varchar(20), code character(5), amount numeric(12,2),
    wide numeric, day date, at timestamptz, local_at timestamp(3), clock time, span interval,
    doc json, attrs jsonb, ref uuid, blob bytea, tags text[], counts integer[],
    updated_at timestamptz NOT NULL
)
"""
EDGE_ROWS = """
INSERT INTO public.orders VALUES
(1, -32768, -2147483648, 'NaN', 'Infinity', true, '', '', 'ab', 'NaN', 'Infinity', '-infinity',
 'infinity', '0044-03-15 12:00:00.123 BC', '24:00', '-1 year 2 days 00:00:00.5',
 '{"a": [1, "x"]}', '{"b": {"c": null}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff',
 '{"", NULL, "x,y"}', '{1, NULL}', '2026-01-01'),
(2, NULL, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-01-01'),
(3, 32767, 2147483647, 1.5e-40, 1e308, false, E'Größe "q", ;\\n line\\t\\\\ end', 'ünï',
 '  ', 1234567890.12, 1e-20, '10000-01-01', '0044-03-15 12:00 BC', '294276-12-31 23:59:59',
 '00:00:00.000001', 'PT0S', '[]', '[1, "x", 2.50]', NULL, '', '{}', '{}', '2026-01-01'),
(4, 0, 0, -0.0, 0.1, true, 'null', 'NULL', 'x', 0, -0.000, '2000-02-29',
 '2026-03-29 01:30:00+01', '1970-01-01', '12:00', '1 mon', 'null', '"s"',
 '00000000-0000-0000-0000-000000000000', '\\x', '{NULL}', '{-1}', '2026-01-01')
"""
TEXT_OF_EVERY_COLUMN = (
    "SELECT id, small, whole, ratio::text, score::text, flag, note, label, code::text, amount::text, "
    "wide::text, day::text, at::text, local_at::text, clock::text, span::text, doc::text, "
    "attrs::text, ref, encode(blob, 'hex'), tags::text, counts::text FROM {} ORDER BY id"
)


def _landed(manifest: dict[str, Any]) -> Any:
    return pq.read_table(manifest.files["data"].removeprefix("file://"))


def _extract(spec: Any, monkeypatch: pytest.MonkeyPatch, driver: str) -> dict[str, Any]:
    monkeypatch.setenv("SYNCGATE_EXTRACT_DRIVER", driver)
    return extract(spec, new_run(spec))


def _count_adbc_fetches(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each batch the ADBC path landed (None: it fell back to COPY CSV)."""
    landed: list[object] = []
    real = adbc_out.fetch_to_parquet

    def spy(*args: Any, **kwargs: Any) -> Any:
        landed.append(real(*args, **kwargs))
        return landed[-1]

    monkeypatch.setattr(adbc_out, "fetch_to_parquet", spy)
    return landed


def test_adbc_lands_every_type_exactly_as_copy_csv(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(databases["src"], EVERY_TYPE, EDGE_ROWS)
    spec = make_spec(**PLAIN)
    columns = [tuple(c) for c in _extract(spec, monkeypatch, "copy").columns]
    assert adbc_out.eligible(columns)
    fetched = _count_adbc_fetches(monkeypatch)
    by_copy = _landed(_extract(spec, monkeypatch, "copy"))
    assert fetched == []
    by_adbc = _landed(_extract(spec, monkeypatch, "adbc"))
    assert len(fetched) == 1 and fetched[0] is not None  # the ADBC path really ran
    assert by_adbc.num_rows == 4
    assert by_adbc.schema.equals(by_copy.schema, check_metadata=True)
    # repr: NaN equals NaN
    assert [repr(r) for r in by_adbc.to_pylist()] == [repr(r) for r in by_copy.to_pylist()]
    assert by_adbc.column("code").to_pylist() == ["ab   ", None, "     ", "x    "]  # blanks kept


def test_every_type_round_trips_to_the_target_through_adbc(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(databases["src"], EVERY_TYPE, EDGE_ROWS)
    monkeypatch.setenv("SYNCGATE_EXTRACT_DRIVER", "adbc")
    fetched = _count_adbc_fetches(monkeypatch)
    sync(make_spec(**PLAIN))
    assert len(fetched) == 1 and fetched[0] is not None
    copied = TEXT_OF_EVERY_COLUMN
    assert rows(databases["dst"], copied.format("analytics.orders")) == rows(
        databases["src"], copied.format("public.orders")
    )


def test_types_adbc_would_change_keep_the_copy_path(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(
        databases["src"],
        "CREATE TABLE public.orders (id int PRIMARY KEY, host inet, net cidr, updated_at timestamptz)",
        "INSERT INTO public.orders VALUES (1, '10.0.0.1', '10.0.0.0/8', '2026-01-01'), (2, NULL, NULL, now())",
    )
    spec = make_spec(**PLAIN)
    manifest = _extract(spec, monkeypatch, "adbc")
    assert not adbc_out.eligible(manifest.columns)  # inet::text adds /32
    assert _landed(manifest).column("host").to_pylist() == ["10.0.0.1", None]


def test_adbc_reads_the_extract_snapshot(databases: dict[str, str], tmp_path: Path) -> None:
    src = databases["src"]
    execute(src, "CREATE TABLE public.items (id int, note text)", "INSERT INTO public.items VALUES (1, 'a')")
    with connect("src_db") as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        columns = table_columns(conn, TableRef("public", "items"))  # takes the snapshot
        execute(src, "INSERT INTO public.items VALUES (2, 'committed after the snapshot')")
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath((tmp_path / "items.parquet").as_uri())
        query = select(TableRef("public", "items").sql, ["id", "note"], None)
        landed = adbc_out.fetch_to_parquet(conn, "src_db", query, dict(PARAMS), columns, path)
        conn.rollback()
    assert landed is not None and landed[0] == 1
    assert pq.read_table(tmp_path / "items.parquet").to_pylist() == [{"id": 1, "note": "a"}]


def _persistence(url: str, table: str) -> str | None:
    found = rows(url, "SELECT relpersistence FROM pg_class WHERE oid = to_regclass(%s)", (table,))
    return found[0][0] if found else None


def test_a_first_load_stages_logged_and_a_failed_gate_leaves_no_target(
    databases: dict[str, str],
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, EVERY_TYPE, EDGE_ROWS)
    gate = {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "small"}}]}
    spec = make_spec(**{**PLAIN, "quality": gate})
    run = new_run(spec)
    manifest = load(spec, run, transform(spec, extract(spec, run)))
    staged = str(staging_table(run))
    assert _persistence(dst, staged) == "p"  # promote adopts it: no SET LOGGED rewrite
    with pytest.raises(DataQualityError):
        verify(spec, run, manifest)
    assert _persistence(dst, "analytics.orders") is None  # the target was never created
    assert rows(dst, f"SELECT count(*) FROM {staged}") == [(4,)]  # the batch stays for inspection


def test_incremental_batches_stage_unlogged_after_the_first_load(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, EVERY_TYPE, EDGE_ROWS)
    spec = make_spec(**PLAIN)
    sync(spec)
    assert _persistence(dst, "analytics.orders") == "p"
    assert rows(dst, "SELECT count(*) FROM pg_index WHERE indrelid = 'analytics.orders'::regclass "
                "AND indisprimary") == [(1,)]  # fmt: skip
    execute(src, "UPDATE public.orders SET note = 'changed', updated_at = '2026-01-02' WHERE id = 2")
    run = new_run(spec)
    load(spec, run, transform(spec, extract(spec, run)))
    assert _persistence(dst, str(staging_table(run))) == "u"


def test_a_failed_adbc_connection_is_retriable_and_names_no_secret(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.errors import RetriableError

    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_DB", "postgresql://u:s3cret-pw@127.0.0.1:1/nowhere")
    with pytest.raises(RetriableError) as caught:
        adbc_out._AdbcSession("broken_db")
    assert "s3cret-pw" not in str(caught.value)
