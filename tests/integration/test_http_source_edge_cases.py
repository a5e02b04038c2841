"""HTTP source and target edge cases found in review: each test once proved a defect, now fixed."""

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


def test_append_boundary_keys_forget_earlier_boundary_rows(api: Any, databases: dict[str, str]) -> None:
    """Defect: append + HTTP source duplicates a row at the watermark value.

    ``page._Newest`` starts empty each run and skipped boundary rows are not tracked, so when a
    run's newest cursor equals the old watermark the stored boundary keys are only the NEW rows
    at that value (the PostgreSQL source stores every key at the value). The next run then
    re-appends the earlier boundary row (here: a primary-key violation that wedges the flow on
    every later run; without a target key, a silent duplicate).
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
    from syncgate.http.client import ApiClient

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
def test_page_shift_during_extraction_skips_a_record(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    """Defect: page/offset pagination silently skips a record when the list shifts mid-extraction.

    A record on page 1 is updated while page 2 is requested (normal activity on a live API): it
    moves to the end of the ``(updated_at, id)`` order, every later record shifts one place left,
    and the record that was first on page 2 is never read. The batch's newest cursor (the touched
    record's new ``updated_at``) becomes the watermark, past the skipped record: it is never read.
    """
    from helpers import new_run

    from syncgate import landing
    from syncgate.pipeline.extract import extract

    resource = "contacts" if style == "offset" else "customers"
    _touch_first_record_after_page_one(api, monkeypatch, style)
    spec = http_spec(style)
    manifest = extract(spec, new_run(spec))
    landed = {i for t in landing.read_batches(manifest["files"]["data"]) for i in t["id"].to_pylist()}
    expected = {r["id"] for r in api.admin.records(resource)}
    newest = max(r["updated_at"] for r in api.admin.records(resource))
    assert manifest["watermark_after"] == newest  # the watermark moves past everything ...
    assert sorted(expected - landed) == []  # ... but not everything landed


def test_record_deleted_mid_extraction_loses_another_record_for_good(
    api: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: end to end, a deletion on page 1 during extraction silently loses a live record.

    Same page shift as above, without a duplicate to trip the quality gate: the run succeeds,
    the watermark moves past the skipped record, and the next run does not read it either.
    """
    from syncgate.http.client import ApiClient

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


def test_misspelt_records_path_is_a_silent_empty_success(api: Any, databases: dict[str, str]) -> None:
    """Defect: a wrong ``source.records`` path (bad input) succeeds with 0 rows.

    ``records.record_list`` treats an absent list on a dict body as "no records", so a typo in
    the spec ends pagination after one page and the run is recorded as a success that read
    nothing, instead of a clear error naming ``records``.
    """
    from syncgate.errors import FatalError

    spec = http_spec("page", source__records="data.itemz")
    with pytest.raises(FatalError, match="records"):
        result = sync(spec)
        row = audit(databases["dst"], result["run"].run_id, FLOW)
        pytest.fail(f"run {row['status']} with {row['rows_extracted']} rows extracted")


def test_link_to_another_host_receives_the_bearer_token(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: a ``Link: rel="next"`` to another origin is fetched with the connection's token.

    ``Paginator`` follows any absolute next URL and ``ApiClient`` sends it through the session
    that carries ``Authorization: Bearer <password>``: an API (or a proxy / CDN link) pointing
    elsewhere receives the secret. Requests' own redirect handling strips it across hosts; this
    path does not. Refuse, or drop credentials for, a next link outside the connection's origin.
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


def test_pii_columns_stored_in_clear_in_extract_rejects(api: Any, databases: dict[str, str]) -> None:
    """Defect: a spec's ``pii`` columns land in clear in ``syncgate.rejected_records``.

    ``page._reject`` masks only hashed columns; ``pii`` (declared "never in clear outside the
    flow") is ignored, so the rejected record's email is stored verbatim in the state database
    (only the UI masks it on display). Mask ``spec.pii_columns`` too (extract and push rejects).
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


def test_pii_columns_stored_in_clear_in_push_rejects(
    crm_factory: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: the refused record of a push keeps a ``pii`` column in clear in rejected_records.

    ``push.progress._masked`` masks ``transform.hash`` columns only, not ``spec.pii``.
    """
    from crm_push import make_http_spec, seed_customers, wire_crm
    from helpers import execute

    src, dst = databases["src"], databases["dst"]
    wire_crm(monkeypatch, crm_factory(customers=0, contacts=0))
    seed_customers(src, 3)
    execute(src, "UPDATE public.customers SET email = 'dana.private.mailbox' WHERE id = 2")
    sync(make_http_spec(pii=["email"], target__rejects={"fail_run": False}))
    found = rows(dst, "SELECT record->>'email' FROM syncgate.rejected_records WHERE stage = 'push'")
    assert found and found != [("dana.private.mailbox",)], "PII email stored in clear"


def test_number_field_first_seen_integral_rejects_fractional_values(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: an undeclared JSON number is typed from its first value; later fractions are rejected.

    ``SchemaTracker.admit`` fixes a new column's type from the first non-null value: ``5`` makes
    ``score`` bigint, and ``7.5`` in a later record then fails coercion and is rejected (with the
    default ``rejects.fail_run: false``, silently left out of the target while the watermark moves
    past it). JSON has one number type; integer -> number within a batch should widen to numeric /
    double precision, as ``classify`` already treats it across runs.
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


def test_integer_cursor_that_looks_like_a_date_breaks_the_append_boundary(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: an integer cursor such as a ``YYYYMMDD`` date key is compared as a date once stored.

    The watermark is stored as text (``"20250315"``); ``coerce.sort_key`` parses that text with
    ``datetime.fromisoformat`` (a datetime, sort class 0) while the records' integers sort as
    numbers (class 1). The window filter and the append boundary-key skip never match again:
    the next run re-appends every record the API returns (here a primary-key violation).
    Keep the cursor's JSON kind with the watermark (or compare by the declared type).
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


def test_resume_after_activity_between_attempts_duplicates_and_skips(
    api: Any, databases: dict[str, str]
) -> None:
    """Defect: resuming a page-numbered extraction after the API changed duplicates and skips records.

    The checkpoint stores the next page number; during the task's retry delay records of the
    landed pages are updated and move to the end of the list, so the resumed pages start later
    than where the first attempt stopped (one record per update is never landed) and the updated
    records land twice (old version from attempt 1, new one from the retry).
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
    landed = [i for t in landing.read_batches(manifest["files"]["data"]) for i in t["id"].to_pylist()]
    expected = {r["id"] for r in api.admin.records("customers")}
    assert sorted(expected - set(landed)) == [], "records never landed"
    assert len(landed) == len(set(landed)), "records landed twice"
