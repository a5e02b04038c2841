"""HTTP source and target edge cases: live APIs, odd cursors, foreign links, PII in rejects."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import audit, rows, sync
from http_helpers import FLOW, connect_crm, http_spec, json_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    connect_crm(monkeypatch, crm)
    return crm


def _ids(dst: str, table: str = "analytics.customers") -> list[int]:
    return [r[0] for r in rows(dst, f"SELECT id FROM {table} ORDER BY id")]


def test_append_remembers_every_boundary_row_when_the_watermark_does_not_move(
    api: Any, databases: dict[str, str]
) -> None:
    """Append + HTTP source: when a run's newest cursor equals the old watermark, the stored
    boundary keys hold every row at that value (earlier ones and the new late arrival), as the
    PostgreSQL source does. Otherwise the next run re-appends an earlier boundary row: a
    primary-key violation that wedges the flow (without a target key, a silent duplicate).
    """
    dst = databases["dst"]
    spec = http_spec("page", target__write="append")
    sync(spec)
    source = api.admin.records("customers")
    newest = max(source, key=lambda r: (r["updated_at"], r["id"]))
    # A new record arrives late, stamped exactly with the watermark value.
    record = {k: v for k, v in newest.items() if k not in ("id", "updated_at", "created_at")}
    with api.client() as client:
        created = client.post("/v1/customers", json={**record, "id": 100_000})
    assert created.status_code == 201, created.text
    api.admin.touch("customers", ids=[100_000], at=newest["updated_at"])
    sync(spec)
    try:
        sync(spec)  # nothing changed in the API since the previous run
    except Exception as exc:  # the old boundary row hits the target's primary key
        pytest.fail(f"third run re-appended an already promoted boundary row: {exc}")
    dupes = rows(dst, "SELECT id, count(*) FROM analytics.customers GROUP BY id HAVING count(*) > 1")
    assert dupes == []


def _touch_first_record_after_page_one(api: Any, monkeypatch: pytest.MonkeyPatch, style: str) -> list[int]:
    """Simulate live activity: a record of page 1 is updated while page 2 is requested.

    Returns the list the touched record's id is added to once page 1 has been read.
    """
    from syncgate.connectors.http.client import ApiClient

    resource = "contacts" if style == "offset" else "customers"
    calls = {"n": 0}
    touched: list[int] = []
    original = ApiClient.get_json

    def get_json(self: ApiClient, endpoint: str, params: Any = None) -> Any:
        response = original(self, endpoint, params)
        calls["n"] += 1
        if calls["n"] == 1:
            page = response.body["data"]["items"] if style == "page" else response.body["items"]
            touched.extend(api.admin.touch(resource, ids=[page[0]["id"]])["touched"])
        return response

    monkeypatch.setattr(ApiClient, "get_json", get_json)
    return touched


@pytest.mark.parametrize("style", ["page", "offset"])
def test_a_page_shift_during_extraction_lands_every_record(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    """Page/offset pagination lands every record although the list shifts mid-extraction.

    A record on page 1 is updated while page 2 is requested (normal activity on a live API): it
    moves to the end of the ``(updated_at, id)`` order and every later record shifts one place
    left, so plain page numbers would never read the record that was first on page 2, while the
    watermark (the touched record's new ``updated_at``) moves past it for good.
    """
    from helpers import new_run

    from syncgate import landing
    from syncgate.pipeline.extract import extract

    resource = "contacts" if style == "offset" else "customers"
    _touch_first_record_after_page_one(api, monkeypatch, style)
    spec = http_spec(style)
    manifest = extract(spec, new_run(spec))
    landed = {i for t in landing.read_batches(manifest.files["data"]) for i in t["id"].to_pylist()}
    expected = {r["id"] for r in api.admin.records(resource)}
    newest = max(r["updated_at"] for r in api.admin.records(resource))
    assert manifest.watermark_after == newest  # the watermark moves past everything ...
    assert sorted(expected - landed) == []  # ... so everything it passed must have landed


def test_a_record_deleted_mid_extraction_loses_no_other_record(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, a deletion on page 1 during extraction still lands every live record.

    Same page shift as above, without a duplicate to trip the quality gate: a skipped record
    would go unnoticed, with the watermark past it, and the next run would not read it either.
    """
    from syncgate.connectors.http.client import ApiClient

    original = ApiClient.get_json
    calls = {"n": 0}

    def get_json(self: ApiClient, endpoint: str, params: Any = None) -> Any:
        response = original(self, endpoint, params)
        calls["n"] += 1
        if calls["n"] == 1:
            with api.client() as client:
                gone = client.delete(f"/v1/customers/{response.body['data']['items'][0]['id']}")
            assert gone.status_code == 204
        return response

    monkeypatch.setattr(ApiClient, "get_json", get_json)
    first = sync(http_spec("page"))
    monkeypatch.setattr(ApiClient, "get_json", original)
    sync(http_spec("page"))
    assert audit(databases["dst"], first["run"].run_id, FLOW)["status"] == "success"
    live = {r["id"] for r in api.admin.records("customers")}
    assert sorted(live - set(_ids(databases["dst"]))) == []


def test_a_record_updated_mid_extraction_lands_once_in_its_newest_version(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record updated while the pages are read is seen twice (old version on page 1, new one
    at the end of the list); the batch keeps only the newest version, so the run passes the
    generated uniqueness check and the target holds what the API holds now."""
    from datetime import datetime

    touched = _touch_first_record_after_page_one(api, monkeypatch, "page")
    result = sync(http_spec("page"))
    assert len(touched) == 1, "the record of page 1 was not updated during the extraction"
    assert audit(databases["dst"], result["run"].run_id, FLOW)["status"] == "success"
    now = {
        r["id"]: (r["tier"], datetime.fromisoformat(r["updated_at"])) for r in api.admin.records("customers")
    }
    landed = {
        i: (tier, at)
        for i, tier, at in rows(databases["dst"], "SELECT id, tier, updated_at FROM analytics.customers")
    }
    assert landed[touched[0]] == now[touched[0]], "the touched record landed in its old version"
    assert landed == now


def test_a_misspelt_records_path_is_a_clear_error_not_an_empty_success(
    api: Any, databases: dict[str, str]
) -> None:
    """A wrong ``source.records`` path (bad input) fails the run with an error naming ``records``.

    Read as "no records", a typo would end pagination after one page and record a success that
    read nothing.
    """
    from syncgate.errors import FatalError

    spec = http_spec("page", source__records="data.itemz")
    with pytest.raises(FatalError, match="records"):
        result = sync(spec)
        row = audit(databases["dst"], result["run"].run_id, FLOW)
        pytest.fail(f"run {row['status']} with {row['rows_extracted']} rows extracted")


def test_a_next_link_to_another_host_never_receives_the_bearer_token(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``Link: rel="next"`` outside the connection's origin is refused (or followed without
    credentials): the session carries ``Authorization: Bearer <password>``, and an API (or a
    proxy / CDN link) pointing elsewhere must not receive the secret. Requests strips it on
    cross-host redirects, but a next link is a new request, not a redirect.
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from helpers import new_run

    from syncgate.errors import FatalError
    from syncgate.pipeline.extract import extract

    seen: list[str | None] = []  # Authorization headers the foreign host received
    asked: list[str | None] = []  # ... and the API itself

    class Foreign(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self._send(b"[]", {})

        def _send(self, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(200)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    foreign = ThreadingHTTPServer(("127.0.0.1", 0), Foreign)
    elsewhere = f"http://localhost:{foreign.server_address[1]}/page2"

    class Api(Foreign):
        def do_GET(self) -> None:
            asked.append(self.headers.get("Authorization"))
            page = [{"id": 1, "updated_at": "2026-01-01T00:00:00Z"}]
            self._send(json.dumps(page).encode(), {"Link": f'<{elsewhere}>; rel="next"'})

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    for server in (foreign, api):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    refused: FatalError | None = None
    token = "S3cret-Bearer-Token"
    try:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": api.server_address[1], "password": token}
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps(conn))
        spec = http_spec(
            "link",
            source__fields=None,
            source__endpoint="/v3/customers",
            source__pagination={"style": "link"},
        )
        try:
            extract(spec, new_run(spec))
        except FatalError as exc:  # refusing the foreign link is one safe outcome
            refused = exc
    finally:
        for server in (foreign, api):
            server.shutdown()
            server.server_close()
    assert asked == [f"Bearer {token}"], (
        "page 1 was not read with the token: the check below would prove nothing"
    )
    assert not any(h and token in h for h in seen), "the foreign host received the bearer token"
    # Either the link is refused, naming why (and not the token), or followed without credentials.
    if refused is not None:
        assert "refusing to follow" in str(refused) and token not in str(refused), str(refused)
    else:
        assert seen == [None], seen


def test_pii_columns_are_masked_in_extract_rejects(api: Any, databases: dict[str, str]) -> None:
    """A spec's ``pii`` columns (not only hashed ones) are masked in ``syncgate.rejected_records``:
    "never in clear outside the flow" includes the state database, not just the UI's display.
    """
    from decimal import Decimal

    fields = {
        "updated_at": {"path": "updated_at", "type": "timestamptz"},
        "lifetime_value": {"path": "lifetime_value", "type": "numeric(6,2)"},  # at most 9999.99
    }
    records = api.admin.records("customers")
    too_big = [
        r
        for r in records
        if r["lifetime_value"] and Decimal(r["lifetime_value"]) >= Decimal("9999.995") and r["email"]
    ]
    assert too_big, "no reject with an email in the seed: the test would prove nothing"
    result = sync(http_spec("page", source__fields=fields, pii=["email"]))
    found = rows(
        databases["dst"],
        "SELECT record->>'email' FROM syncgate.rejected_records WHERE run_id = %s AND stage = 'extract'",
        (result["run"].run_id,),
    )
    emails = {r["email"] for r in too_big}
    assert found and not [e for (e,) in found if e in emails], "PII email stored in clear"


def test_pii_columns_are_masked_in_push_rejects(
    crm_factory: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record of a push the API refused is stored with its ``pii`` columns masked, as the
    ``transform.hash`` ones are."""
    from crm_push import make_http_spec, seed_customers, wire_crm
    from helpers import execute

    src, dst = databases["src"], databases["dst"]
    wire_crm(monkeypatch, crm_factory(customers=0, contacts=0))
    seed_customers(src, 3)
    execute(src, "UPDATE public.customers SET email = 'dana.private.mailbox' WHERE id = 2")
    sync(make_http_spec(pii=["email"], target__rejects={"fail_run": False}))
    found = rows(dst, "SELECT record->>'email' FROM syncgate.rejected_records WHERE stage = 'push'")
    assert found and found != [("dana.private.mailbox",)], "PII email stored in clear"


def test_a_number_field_first_seen_integral_still_lands_later_fractions(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An undeclared JSON number first seen as ``5`` widens when ``7.5`` arrives on a later page.

    JSON has one number type: typing the column bigint from its first value would reject the
    fraction (with the default ``rejects.fail_run: false``, silently left out of the target while
    the watermark moves past it). Within a batch integer -> number widens, as across runs.
    """
    # Two pages: the fraction arrives after a page of whole numbers has already landed.
    pages = {
        "/things": [{"id": 1, "score": 5, "updated_at": "2026-01-01T00:00:00Z"}],
        "/things?page=2": [{"id": 2, "score": 7.5, "updated_at": "2026-01-01T00:00:01Z"}],
    }
    with json_api(monkeypatch, pages, links={"/things": "/things?page=2"}):
        spec = http_spec(
            "link",
            source__fields=None,
            source__endpoint="/things",
            source__pagination={"style": "link"},
            source__records=None,
        )
        result = sync(spec)
    rejected = rows(databases["dst"], "SELECT reason FROM syncgate.rejected_records")
    assert rejected == [] and result["rows"] == 2
    assert rows(databases["dst"], "SELECT id, score FROM analytics.customers ORDER BY id") == [
        (1, 5.0),
        (2, 7.5),
    ]


def test_an_integer_cursor_that_looks_like_a_date_keeps_the_append_boundary(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An integer cursor such as a ``YYYYMMDD`` date key is compared as a number after it was
    stored as the watermark (text ``"20250315"``, which also parses as a date). Compared as a
    date, the window filter and the append boundary-key skip would never match again and the
    next run would re-append every record the API returns (here a primary-key violation).
    """
    # An API without a cursor filter: the window decides.
    with json_api(monkeypatch, {"/events": [{"id": 1, "day": 20250314}, {"id": 2, "day": 20250315}]}):
        spec = http_spec(
            "link",
            source__fields=None,
            source__endpoint="/events",
            source__pagination=None,
            source__records=None,
            source__cursor="day",
            source__cursor_param=None,
            target__write="append",
            target__table="analytics.events",
        )
        sync(spec)
        try:
            second = sync(spec)
        except Exception as exc:
            pytest.fail(f"the second run re-appended already promoted records: {exc}")
    assert second["rows"] == 0


def test_a_resumed_page_extraction_after_api_activity_neither_skips_nor_duplicates(
    api: Any, databases: dict[str, str]
) -> None:
    """A page-numbered extraction resumed after the API changed lands every record exactly once.

    During the task's retry delay records of the landed pages are updated and move to the end
    of the list: resuming at the stored next page number would start later than where the first
    attempt stopped (one record per update never landed) and land the updated records twice
    (old version from attempt 1, new one from the retry).
    """
    from helpers import new_run

    from syncgate import landing
    from syncgate.errors import RetriableError
    from syncgate.pipeline.extract import extract

    path = "/v1/customers"
    spec = http_spec(
        "page",
        source__pagination={"style": "page", "page_param": "page", "size_param": "per_page", "size": 25},
    )
    run = new_run(spec)
    api.admin.fault("500", count=4, path=path, after=4)  # pages 1-4 land, page 5 fails
    with pytest.raises(RetriableError):
        extract(spec, run)
    # During the retry delay two records of the landed pages (1-4) are updated.
    ordered = sorted(api.admin.records("customers"), key=lambda r: (r["updated_at"], r["id"]))
    api.admin.touch("customers", ids=[ordered[0]["id"], ordered[30]["id"]])
    manifest = extract(spec, run)  # the task's retry: same run id
    landed = [i for t in landing.read_batches(manifest.files["data"]) for i in t["id"].to_pylist()]
    expected = {r["id"] for r in api.admin.records("customers")}
    assert sorted(expected - set(landed)) == [], "records never landed"
    assert len(landed) == len(set(landed)), "records landed twice"
