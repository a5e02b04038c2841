"""HTTP source end to end: the demo CRM on loopback -> real PostgreSQL, in-process stages."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import audit, new_run, rows, sync
from http_helpers import FLOW, connect_crm, http_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def api(crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    connect_crm(monkeypatch, crm)
    return crm


def target_ids(dst: str, table: str = "analytics.customers") -> list[int]:
    return [r[0] for r in rows(dst, f"SELECT id FROM {table} ORDER BY id")]


@pytest.mark.parametrize("style", ["page", "offset", "token", "link"])
def test_every_pagination_style_lands_every_record(api: Any, databases: dict[str, str], style: str) -> None:
    spec = http_spec(style)
    resource = "contacts" if style == "offset" else "customers"
    result = sync(spec)
    source = api.admin.records(resource)
    source = source.get("records", source) if isinstance(source, dict) else source
    assert target_ids(databases["dst"], f"analytics.{resource}") == sorted(r["id"] for r in source)
    row = audit(databases["dst"], result["run"].run_id, FLOW)
    assert row["status"] == "success" and row["rows_extracted"] == len(source)
    assert 0 < row["bytes_wire"] < row["bytes_decoded"]  # gzip on the wire
    assert row["rows_rejected"] == 0 and row["schema_changes"] == []


def test_typed_columns_and_incremental_second_run(api: Any, databases: dict[str, str]) -> None:
    dst = databases["dst"]
    spec = http_spec("page")
    first = sync(spec)
    types = dict(
        rows(
            dst,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'",
        )
    )
    assert types["updated_at"] == "timestamp with time zone" and types["lifetime_value"] == "numeric"
    assert types["id"] == "bigint" and types["address"] == "jsonb" and types["city"] == "text"
    source = {r["id"]: r for r in api.admin.records("customers")}
    city = dict(rows(dst, "SELECT id, city FROM analytics.customers"))
    assert all(city[i] == r["address"]["city"] for i, r in source.items())
    mark = rows(dst, "SELECT value FROM syncgate.watermarks WHERE flow_id = %s", (FLOW,))[0][0]
    assert mark == max(r["updated_at"] for r in source.values())
    assert audit(dst, first["run"].run_id, FLOW)["watermark_after"] == mark

    touched = api.admin.touch("customers", ids=[3, 17, 42])
    assert touched
    before = api.admin.stats()["requests"].get("/v1/customers", 0)
    second = sync(spec)
    row = audit(dst, second["run"].run_id, FLOW)
    # The touched records plus the one at the old watermark (inclusive boundary, re-read by merge).
    assert row["rows_extracted"] == 4 and row["rows_updated"] == 3 and row["rows_inserted"] == 0
    assert api.admin.stats()["requests"]["/v1/customers"] - before == 2  # one short page + an empty one
    tiers = dict(rows(dst, "SELECT id, tier FROM analytics.customers WHERE id IN (3, 17, 42)"))
    fresh = {r["id"]: r["tier"] for r in api.admin.records("customers")}
    assert tiers == {i: fresh[i] for i in (3, 17, 42)}
    third = sync(spec)
    counts = audit(dst, third["run"].run_id, FLOW)
    assert counts["rows_extracted"] == 3 and counts["rows_updated"] == 0  # only boundary rows, unchanged


def test_retries_429_500_drop_and_truncate(api: Any, databases: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    path = "/v1/customers"
    for kind, options in [
        ("429", {"retry_after": "1"}),
        ("429", {"retry_after": when}),
        ("429", {"retry_after": "soon-ish"}),
        ("500", {}),
        ("drop", {}),
        ("truncate", {}),
    ]:
        # Mid-pagination: pages 1-2 pass, then each fault in turn hits the request for page 3.
        api.admin.fault(kind, path=path, after=0 if api.admin.stats()["faults_pending"] else 2, **options)
    result = sync(http_spec("page", source__retry={"max_attempts": 8, "backoff_seconds": 0.05}))
    stats = api.admin.stats()
    assert stats["faults_fired"] == 6 and stats["faults_pending"] == []
    assert target_ids(databases["dst"]) == sorted(r["id"] for r in api.admin.records("customers"))
    assert audit(databases["dst"], result["run"].run_id, FLOW)["rows_extracted"] == 250


def test_retries_run_out_as_a_retriable_error(api: Any, databases: dict[str, str]) -> None:
    from syncgate.errors import RetriableError
    from syncgate.pipeline.extract import extract

    api.admin.fault("503", count=10, path="/v1/customers")
    spec = http_spec("page", source__retry={"max_attempts": 3, "backoff_seconds": 0.05})
    with pytest.raises(RetriableError, match=r"gave up after 3 attempt\(s\): HTTP 503"):
        extract(spec, new_run(spec))


@pytest.mark.parametrize("case", ["404", "401"])
def test_404_and_401_fail_fast_without_the_token(
    crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from syncgate.errors import FatalError
    from syncgate.pipeline.extract import extract

    wrong = "Wr0ng-T0ken-Value"
    connect_crm(monkeypatch, crm, token=wrong if case == "401" else None)
    overrides = {"source__endpoint": "/v1/nothing-here"} if case == "404" else {}
    spec = http_spec("page", **overrides)
    with pytest.raises(FatalError) as caught:
        extract(spec, new_run(spec))
    message = str(caught.value)
    assert f"HTTP {case}" in message and "per_page=40" in message
    assert wrong not in message and crm.token not in message
    path = "/v1/nothing-here" if case == "404" else "/v1/customers"
    assert crm.admin.stats()["requests"].get(path, 0) == (
        1 if case == "404" else 0
    )  # 401: refused at the gate


@pytest.mark.parametrize("style", ["page", "token", "link", "offset"])
def test_pagination_loops_stop_with_a_clear_error(api: Any, databases: dict[str, str], style: str) -> None:
    from syncgate.connectors.http.pagination import PaginationLoopError
    from syncgate.pipeline.extract import extract

    # Page / offset paging re-anchors on `cursor_param` (always page 1 of a newer anchor, which
    # this fault cannot repeat): positional paging is where a page number can be ignored.
    positional = {"source__cursor_param": None} if style in ("page", "offset") else {}
    spec = http_spec(style, **positional)
    # The third request is answered with the first page again (paging parameters ignored).
    api.admin.fault("loop", path=spec.source.endpoint, after=2)
    with pytest.raises(PaginationLoopError, match="pagination loop"):
        extract(spec, new_run(spec))


def test_resume_after_a_crash_mid_pagination(api: Any, databases: dict[str, str]) -> None:
    from syncgate.errors import RetriableError
    from syncgate.pipeline.extract import extract
    from syncgate.pipeline.load import load
    from syncgate.pipeline.promote import promote
    from syncgate.pipeline.transform import transform
    from syncgate.pipeline.verify import verify

    dst, path = databases["dst"], "/v1/customers"
    spec = http_spec(
        "page",
        source__pagination={"style": "page", "page_param": "page", "size_param": "per_page", "size": 25},
    )
    run = new_run(spec)
    api.admin.fault("500", count=4, path=path, after=4)  # pages 1-4 land, page 5 fails 4 times
    with pytest.raises(RetriableError):
        extract(spec, run)
    assert api.admin.stats()["requests"][path] == 8
    manifest = extract(spec, run)  # the task's retry: same run id
    # Pages 5..10 and the closing empty page 11: pages 1-4 are not fetched again.
    assert api.admin.stats()["requests"][path] == 8 + 7
    assert manifest.rows == 250
    run_manifest = verify(spec, run, load(spec, run, transform(spec, manifest)))
    promote(spec, run, run_manifest)
    ids = target_ids(dst)
    assert ids == sorted(r["id"] for r in api.admin.records("customers")) and len(ids) == len(set(ids))
    # A new run starts from page one (its window is the new watermark: one short page + empty).
    sync(spec)
    assert api.admin.stats()["requests"][path] == 8 + 7 + 2


@pytest.mark.parametrize(("batch_bytes", "resumed_requests"), [("1", 7), (None, 11)])
def test_a_hard_crash_resumes_after_the_last_landed_part(
    api: Any,
    databases: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    batch_bytes: str | None,
    resumed_requests: int,
) -> None:
    """A killed process cannot land its completed pages: the retry reads them again, once each.

    ``SYNCGATE_BATCH_BYTES=1`` lands a part per page (the retry starts at page 5); the default
    (a few MB) had landed nothing of these 250 records (the retry starts at page 1).
    """
    from syncgate import landing
    from syncgate.connectors.http import source as extract_http
    from syncgate.errors import RetriableError
    from syncgate.pipeline.extract import extract

    if batch_bytes is not None:
        monkeypatch.setenv("SYNCGATE_BATCH_BYTES", batch_bytes)
    path = "/v1/customers"
    spec = http_spec(
        "page",
        source__pagination={"style": "page", "page_param": "page", "size_param": "per_page", "size": 25},
    )
    run = new_run(spec)
    api.admin.fault("500", count=4, path=path, after=4)  # pages 1-4 complete, page 5 fails
    with monkeypatch.context() as crash:
        # A killed process never reaches the error path that lands the completed pages.
        crash.setattr(extract_http, "_flush_quietly", lambda checkpoint, flow_id: None)
        with pytest.raises(RetriableError):
            extract(spec, run)
    assert api.admin.stats()["requests"][path] == 8
    manifest = extract(spec, run)
    assert api.admin.stats()["requests"][path] == 8 + resumed_requests
    landed = [i for t in landing.read_batches(manifest.files["data"]) for i in t["id"].to_pylist()]
    assert sorted(landed) == sorted(r["id"] for r in api.admin.records("customers"))
    assert manifest.rows == 250


def test_uncoercible_records_are_rejected_with_reasons(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    dst = databases["dst"]
    fields = {
        "updated_at": {"path": "updated_at", "type": "timestamptz"},
        "lifetime_value": {"path": "lifetime_value", "type": "numeric(6,2)"},  # at most 9999.99
    }
    spec = http_spec("page", source__fields=fields, transform={"hash": ["email"]})
    records = api.admin.records("customers")
    too_big = {
        r["id"]
        for r in records
        if r["lifetime_value"] and Decimal(r["lifetime_value"]) >= Decimal("9999.995")
    }
    assert too_big, "the seed has no value too large for numeric(6,2): the test would prove nothing"
    result = sync(spec)
    run_id = result["run"].run_id
    assert audit(dst, run_id, FLOW)["rows_rejected"] == len(too_big)
    assert set(target_ids(dst)) == {r["id"] for r in records} - too_big
    found = rows(
        dst,
        "SELECT record_key, reason, record FROM syncgate.rejected_records WHERE run_id = %s AND stage = 'extract'",
        (run_id,),
    )
    assert {r[0]["id"] for r in found} == too_big
    for _key, reason, record in found:
        assert reason.startswith("field 'lifetime_value': expected numeric(6,2)")
        assert record["lifetime_value"] not in reason  # the value itself is never in the reason
        assert record["email"] in ("***", None)  # hashed (PII) columns are masked

    failing = http_spec("page", source__fields=fields, source__rejects={"fail_run": True})
    from syncgate.errors import FatalError

    with pytest.raises(FatalError, match=r"could not be coerced"):
        sync(failing)
    assert rows(dst, "SELECT count(*) FROM syncgate.sync_runs WHERE status = 'failed'") == [(1,)]


def columns_of(dst: str, table: str = "customers") -> list[str]:
    return [
        r[0]
        for r in rows(
            dst,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics' "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]


def test_drift_evolve_adds_columns_and_records_every_change(api: Any, databases: dict[str, str]) -> None:
    dst = databases["dst"]
    spec = http_spec("page")
    sync(spec)
    tiers_before = dict(rows(dst, "SELECT id, tier FROM analytics.customers"))
    api.admin.schema(add_field={"name": "loyalty", "value": 7})
    api.admin.schema(drop_field="tier")
    api.admin.touch("customers", ids=[5, 6])
    result = sync(spec)
    changes = {c["field"]: c for c in audit(dst, result["run"].run_id, FLOW)["schema_changes"]}
    assert changes["loyalty"] == {
        "change": "added", "field": "loyalty", "from": None, "to": "bigint",
        "classification": "non_breaking", "action": "column added",
    }  # fmt: skip
    assert changes["tier"]["change"] == "removed" and changes["tier"]["classification"] == "breaking"
    assert set(changes) == {"loyalty", "tier"}
    assert "loyalty" in columns_of(dst)
    assert rows(dst, "SELECT id, loyalty FROM analytics.customers WHERE loyalty IS NOT NULL ORDER BY id")[
        :2
    ] == [
        (5, 7),
        (6, 7),
    ]
    # A missing field is not landed: the target keeps what it had.
    assert dict(rows(dst, "SELECT id, tier FROM analytics.customers")) == tiers_before

    api.admin.restore_schema()
    api.admin.schema(retype_field={"name": "tier", "to": "string"})
    api.admin.touch("customers", ids=[8])
    retyped = sync(spec)
    row = audit(dst, retyped["run"].run_id, FLOW)
    kinds = [
        (c["change"], c["field"], c["from"], c["to"], c["classification"]) for c in row["schema_changes"]
    ]
    assert ("type_changed", "tier", "integer", "string", "breaking") in kinds
    assert ("removed", "loyalty", "bigint", None, "breaking") in kinds
    assert row["rows_rejected"] == 0  # "3" still coerces to the tier column's bigint
    fresh = {r["id"]: r["tier"] for r in api.admin.records("customers")}
    assert rows(dst, "SELECT tier FROM analytics.customers WHERE id = 8") == [(int(fresh[8]),)]


def test_drift_freeze_fails_before_landing(api: Any, databases: dict[str, str]) -> None:
    from syncgate.connectors.http.drift import SchemaDriftError

    dst = databases["dst"]
    spec = http_spec("page", source__schema_drift="freeze")
    sync(spec)
    before = rows(dst, "SELECT id, xmin::text FROM analytics.customers ORDER BY id")
    mark = rows(dst, "SELECT value FROM syncgate.watermarks")
    api.admin.schema(add_field={"name": "loyalty", "value": 7})
    api.admin.touch("customers", ids=[5])
    with pytest.raises(SchemaDriftError, match=r"schema_drift: freeze` forbids it: added field 'loyalty'"):
        sync(spec)
    assert rows(dst, "SELECT id, xmin::text FROM analytics.customers ORDER BY id") == before
    assert rows(dst, "SELECT value FROM syncgate.watermarks") == mark
    assert "loyalty" not in columns_of(dst)


def test_drift_discard_drops_unknown_fields(api: Any, databases: dict[str, str]) -> None:
    dst = databases["dst"]
    spec = http_spec("page", source__schema_drift="discard")
    sync(spec)
    api.admin.schema(add_field={"name": "loyalty", "value": 7})
    api.admin.touch("customers", ids=[5])
    result = sync(spec)
    row = audit(dst, result["run"].run_id, FLOW)
    assert row["status"] == "success" and row["rows_updated"] == 1
    assert [(c["change"], c["field"], c["action"]) for c in row["schema_changes"]] == [
        ("added", "loyalty", "discarded")
    ]
    assert "loyalty" not in columns_of(dst)


def test_an_existing_target_decides_the_landed_types(api: Any, databases: dict[str, str]) -> None:
    from helpers import execute

    dst = databases["dst"]
    # Made by hand, with tier as text (the API sends integers) and no last-seen schema yet.
    execute(
        dst,
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.customers (id bigint PRIMARY KEY, name text, email text, status text, "
        "tier text, lifetime_value numeric(12,2), address jsonb, tags jsonb, created_at text, "
        "updated_at timestamptz, city text, country text)",
    )
    spec = http_spec("page")
    first = sync(spec)
    assert dict(first["columns"])["tier"] == "text"
    api.admin.touch("customers", ids=[9])
    second = sync(spec)  # merge compares staged and target rows: the types must agree
    assert second["counts"]["rows_updated"] == 1
    fresh = {r["id"]: r["tier"] for r in api.admin.records("customers")}
    assert rows(dst, "SELECT tier FROM analytics.customers WHERE id = 9") == [(str(fresh[9]),)]


@pytest.mark.parametrize(("key", "value"), [("transform", {"hash": ["emial"]}), ("pii", ["emial"])])
def test_a_misspelt_pii_field_stops_the_extract_before_a_page_lands(
    api: Any, databases: dict[str, str], key: str, value: Any
) -> None:
    from pathlib import Path

    from syncgate import settings
    from syncgate.errors import FatalError
    from syncgate.pipeline.extract import extract

    spec = http_spec("page", **{key: value})
    with pytest.raises(FatalError, match=r"names unknown column\(s\) emial"):
        extract(spec, new_run(spec))
    landed = Path(settings.landing_url().removeprefix("file://"))
    assert not list(landed.rglob("part-*.parquet")), "a page landed before the names were checked"
