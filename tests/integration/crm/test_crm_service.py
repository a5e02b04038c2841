"""The demo CRM over real HTTP (uvicorn on loopback): auth, pagination, writes, faults, drift."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import socket
import time
from typing import Any

import httpx
import pytest
import requests

pytestmark = pytest.mark.integration


def _ids_in_order(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


def _ordered_ids(crm: Any, resource: str = "customers") -> list[int]:
    return _ids_in_order(crm.admin.records(resource))


# -- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/customers"),
        ("GET", "/v1/contacts"),
        ("GET", "/v2/customers"),
        ("GET", "/v3/customers"),
        ("POST", "/v1/customers"),
        ("POST", "/v1/customers/batch"),
        ("GET", "/_admin/stats"),
        ("POST", "/_admin/faults"),
    ],
)
def test_every_endpoint_needs_the_bearer_token(crm: Any, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": crm.token}):
        response = httpx.request(method, crm.url + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    assert crm.admin.stats()["writes_applied"] == 0


def test_health_is_open(crm: Any) -> None:
    assert httpx.get(f"{crm.url}/health").json() == {"status": "ok"}


# -- pagination ---------------------------------------------------------------------------


def _walk_pages(client: httpx.Client, per_page: int, **params: Any) -> list[dict[str, Any]]:
    out, page, total = [], 1, None
    while True:
        body = client.get("/v1/customers", params={"page": page, "per_page": per_page, **params}).json()
        assert body["meta"]["page"] == page and body["meta"]["per_page"] == per_page
        total = body["meta"]["total"] if total is None else total
        assert body["meta"]["total"] == total
        items = body["data"]["items"]
        if not items:
            assert len(out) == total
            return out
        out.extend(items)
        page += 1


def _walk_offsets(client: httpx.Client, limit: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        body = client.get("/v1/contacts", params={"offset": len(out), "limit": limit, **params}).json()
        out.extend(body["items"])
        if len(out) >= body["total"]:
            assert len(out) == body["total"]
            return out


def _walk_cursor(client: httpx.Client, limit: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v2/customers", params=query).json()
        out.extend(body["data"])
        cursor = body["meta"]["next"]
        if cursor is None:
            return out


def _walk_links(client: httpx.Client, per_page: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    response = client.get("/v3/customers", params={"per_page": per_page, **params})
    while True:
        assert response.status_code == 200
        out.extend(response.json())
        if "next" not in response.links:
            return out
        url = response.links["next"]["url"]
        assert url.startswith(client.base_url.scheme + "://")  # absolute, as the contract says
        response = client.get(url)


@pytest.mark.parametrize("size", [1, 7, 100, 1000])
def test_each_pagination_style_visits_every_record_once_in_order(crm: Any, size: int) -> None:
    customers, contacts = _ordered_ids(crm), _ordered_ids(crm, "contacts")
    assert len(customers) == 250 and len(contacts) == 400
    with crm.client() as client:
        assert _ids_in_order(_walk_pages(client, size)) == customers
        assert _ids_in_order(_walk_cursor(client, size)) == customers
        assert _ids_in_order(_walk_links(client, size)) == customers
        assert _ids_in_order(_walk_offsets(client, size)) == contacts


def test_order_is_updated_at_then_id_and_ties_exist(crm_factory: Any) -> None:
    crm = crm_factory(customers=3000, contacts=10)
    records = crm.admin.records()
    keys = [(r["updated_at"], r["id"]) for r in records]
    assert keys == sorted(keys)
    stamps = [r["updated_at"] for r in records]
    assert len(set(stamps)) < len(stamps), "the data must exercise (updated_at, id) tie-breaking"
    assert [r["id"] for r in records] != sorted(r["id"] for r in records), "late arrivals expected"
    with crm.client() as client:
        assert _ids_in_order(_walk_cursor(client, 97)) == [r["id"] for r in records]


def test_updated_since_is_inclusive_in_every_style(crm: Any) -> None:
    records = crm.admin.records()
    pivot = records[100]["updated_at"]
    expected = [r["id"] for r in records if r["updated_at"] >= pivot]
    contacts = crm.admin.records("contacts")
    contact_pivot = contacts[150]["updated_at"]
    with crm.client() as client:
        assert _ids_in_order(_walk_pages(client, 30, updated_since=pivot)) == expected
        assert _ids_in_order(_walk_cursor(client, 30, updated_since=pivot)) == expected
        assert _ids_in_order(_walk_links(client, 30, updated_since=pivot)) == expected
        assert _ids_in_order(_walk_offsets(client, 30, updated_since=contact_pivot)) == [
            r["id"] for r in contacts if r["updated_at"] >= contact_pivot
        ]
        # Other spellings of the same instant select the same records.
        offset = pivot.replace("Z", "+00:00")
        assert client.get("/v1/customers", params={"updated_since": offset}).json()["meta"]["total"] == len(
            expected
        )


def test_status_filter_on_page_endpoint(crm: Any) -> None:
    leads = [r["id"] for r in crm.admin.records() if r["status"] == "lead"]
    assert leads
    with crm.client() as client:
        assert _ids_in_order(_walk_pages(client, 11, status="lead")) == leads
        assert _ids_in_order(_walk_pages(client, 500, status="all")) == _ordered_ids(crm)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/customers", {"per_page": 1001}, "per_page"),
        ("/v1/customers", {"page": 0}, "page"),
        ("/v1/customers", {"status": "gone"}, "status"),
        ("/v1/customers", {"updated_since": "yesterday"}, "updated_since"),
        ("/v1/contacts", {"offset": -1}, "offset"),
        ("/v2/customers", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v3/customers", {"per_page": "many"}, "per_page"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_field(crm: Any, path: str, params: Any, field: str) -> None:
    with crm.client() as client:
        response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_responses_are_gzipped_when_asked(crm: Any) -> None:
    url = f"{crm.url}/v1/customers?per_page=200"
    # requests/urllib3 would decode transparently; read the raw bytes on the wire instead.
    zipped = requests.get(url, headers={**crm.headers, "Accept-Encoding": "gzip"}, stream=True)
    wire = zipped.raw.read(decode_content=False)
    plain = requests.get(url, headers={**crm.headers, "Accept-Encoding": "identity"}, stream=True)
    plain_wire = plain.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(wire) == plain_wire
    assert len(wire) * 3 < len(plain_wire)


# -- writes -------------------------------------------------------------------------------

NEW = {"name": "Nova Example", "email": "nova@example.com", "status": "lead", "tier": 2}


def test_create_patch_put_delete_round_trip(crm: Any) -> None:
    with crm.client() as client:
        created = client.post("/v1/customers", json=NEW)
        assert created.status_code == 201
        record = created.json()
        new_id = record["id"]
        assert new_id == 251 and record["updated_at"].endswith("Z")
        assert created.headers["Location"] == f"/v1/customers/{new_id}"
        # The write moves the record to the end of the (updated_at, id) order.
        assert _ordered_ids(crm)[-1] == new_id

        patched = client.patch(f"/v1/customers/{new_id}", json={"tier": None, "tags": ["vip"]})
        assert patched.status_code == 200
        assert patched.json()["name"] == "Nova Example" and patched.json()["tags"] == ["vip"]
        assert patched.json()["updated_at"] > record["updated_at"]

        put = client.put(f"/v1/customers/{new_id}", json={"name": "Nova Two", "status": "active"})
        assert put.status_code == 200
        assert put.json()["email"] is None and put.json()["tags"] == []  # full replace

        assert client.get(f"/v1/customers/{new_id}").json()["name"] == "Nova Two"
        # A client pushing whole records may include the id, as long as it is the same one.
        whole = {**put.json(), "lifetime_value": 12.5, "address": {"city": None, "country": "NO"}}
        again = client.put(f"/v1/customers/{new_id}", json=whole)
        assert again.status_code == 200 and again.json()["lifetime_value"] == "12.5"
        assert again.json()["address"] == {"city": None, "country": "NO"}
        mismatch = client.put(f"/v1/customers/{new_id}", json={**whole, "id": 1})
        assert mismatch.status_code == 422 and mismatch.json()["field"] == "id"
        assert client.delete(f"/v1/customers/{new_id}").status_code == 204
        assert client.get(f"/v1/customers/{new_id}").status_code == 404
        assert client.delete(f"/v1/customers/{new_id}").status_code == 404
        assert client.patch("/v1/customers/99999", json={"tier": 1}).status_code == 404

        explicit = client.post("/v1/customers", json={**NEW, "id": 5000})
        assert explicit.status_code == 201 and explicit.json()["id"] == 5000
        assert client.post("/v1/customers", json={**NEW, "id": 5000}).status_code == 409

    assert [(w["id"], w["op"]) for w in crm.admin.writes()] == [
        (251, "create"),
        (251, "update"),
        (251, "replace"),
        (251, "replace"),
        (251, "delete"),
        (5000, "create"),
    ]
    assert crm.admin.stats()["writes_applied"] == 6


def test_idempotency_key_replays_and_rejects_a_different_body(crm: Any) -> None:
    with crm.client() as client:
        first = client.post("/v1/customers", json=NEW, headers={"Idempotency-Key": "create-1"})
        again = client.post("/v1/customers", json=NEW, headers={"Idempotency-Key": "create-1"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = client.post(
            "/v1/customers", json={**NEW, "name": "Other"}, headers={"Idempotency-Key": "create-1"}
        )
        assert other.status_code == 409
        assert "idempotency" in other.json()["error"]

        delete_key = {"Idempotency-Key": "delete-1"}
        assert client.delete("/v1/customers/3", headers=delete_key).status_code == 204
        assert client.delete("/v1/customers/3", headers=delete_key).status_code == 204  # replay, not 404

        # A rejected write stores nothing: the corrected request may reuse its key.
        bad = client.post(
            "/v1/customers", json={**NEW, "email": "nope"}, headers={"Idempotency-Key": "fix-me"}
        )
        assert bad.status_code == 422
        assert (
            client.post("/v1/customers", json=NEW, headers={"Idempotency-Key": "fix-me"}).status_code == 201
        )

    writes = crm.admin.writes()
    assert [(w["op"], w["idempotency_key"]) for w in writes] == [
        ("create", "create-1"),
        ("delete", "delete-1"),
        ("create", "fix-me"),
    ]
    assert len(crm.admin.records()) == 251


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "email": "no-at-sign"}, "email"),
        ({**NEW, "status": "vip"}, "status"),
        ({**NEW, "name": ""}, "name"),
        ({**NEW, "name": "   "}, "name"),
        ({"email": "a@b.c"}, "name"),
        ({**NEW, "tier": "gold"}, "tier"),
        ({**NEW, "lifetime_value": "lots"}, "lifetime_value"),
        ({**NEW, "address": {"city": "Oslo"}}, "address.country"),
        ({**NEW, "tags": "vip"}, "tags"),
        ({**NEW, "favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_invalid_writes_are_422_naming_the_field_without_the_value(crm: Any, body: Any, field: str) -> None:
    with crm.client() as client:
        response = client.post("/v1/customers", json=body)
        assert response.status_code == 422
        assert response.json()["field"] == field
        assert "no-at-sign" not in response.text
        patched = client.patch(
            "/v1/customers/1", json={field: body.get(field)} if field in body else {"name": ""}
        )
        assert patched.status_code == 422
    assert crm.admin.stats()["writes_applied"] == 0


def test_malformed_json_body_is_422(crm: Any) -> None:
    with crm.client() as client:
        response = client.post(
            "/v1/customers", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_batch_applies_each_operation_independently(crm: Any) -> None:
    operations = [
        {"op": "create", "record": NEW, "idempotency_key": "b1"},
        {"op": "update", "id": 1, "record": {"tier": 4}, "idempotency_key": "b2"},
        {"op": "delete", "id": 2, "idempotency_key": "b3"},
        {"op": "update", "id": 99999, "record": {"tier": 1}},
        {"op": "create", "record": {**NEW, "email": "broken"}},
        {"op": "create", "record": {**NEW, "name": "Clash"}, "idempotency_key": "b1"},
        {"op": "upsert", "id": 1, "record": NEW},
        {"op": "delete", "id": 2, "idempotency_key": "b3"},
    ]
    with crm.client() as client:
        response = client.post("/v1/customers/batch", json={"operations": operations})
        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 200, 204, 404, 422, 409, 422, 204]
        assert results[0]["id"] == 251 and results[0]["error"] is None
        assert results[4]["error"] and "broken" not in results[4]["error"]
        assert client.get("/v1/customers/1").json()["tier"] == 4
        assert client.get("/v1/customers/2").status_code == 404

        # A replayed batch applies nothing again.
        replay = client.post("/v1/customers/batch", json={"operations": operations[:3]}).json()
        assert [r["status"] for r in replay["results"]] == [201, 200, 204]
        too_many = client.post("/v1/customers/batch", json={"operations": [operations[3]] * 501})
        assert too_many.status_code == 422 and too_many.json()["field"] == "operations"
    assert crm.admin.stats()["writes_applied"] == 3
    assert len(crm.admin.writes()) == 3


# -- faults -------------------------------------------------------------------------------


def test_429_with_numeric_and_http_date_retry_after(crm: Any) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    crm.admin.fault("429", retry_after="2")
    crm.admin.fault("429", retry_after=when)
    crm.admin.fault("429", retry_after="soon-ish")
    with crm.client() as client:
        first, second, third = (client.get("/v1/customers") for _ in range(3))
        assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
        assert (second.status_code, second.headers["Retry-After"]) == (429, when)
        assert (third.status_code, third.headers["Retry-After"]) == (429, "soon-ish")
        assert client.get("/v1/customers").status_code == 200
    stats = crm.admin.stats()
    assert stats["faults_fired"] == 3 and stats["requests"]["/v1/customers"] == 4


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_fire_count_times_on_the_matching_path_only(crm: Any, kind: str) -> None:
    crm.admin.fault(kind, count=2, path="/v2/")
    with crm.client() as client:
        assert client.get("/v1/customers").status_code == 200
        assert [client.get("/v2/customers").status_code for _ in range(3)] == [int(kind), int(kind), 200]


def test_faults_queue_in_order_and_can_be_cleared(crm: Any) -> None:
    crm.admin.fault("503")
    crm.admin.fault("500")
    with crm.client() as client:
        assert [client.get("/v3/customers").status_code for _ in range(3)] == [503, 500, 200]
        crm.admin.fault("500", count=5)
        crm.admin.clear_faults()
        assert client.get("/v3/customers").status_code == 200


def test_slow_delays_then_answers(crm: Any) -> None:
    crm.admin.fault("slow", delay=1.5)
    with crm.client() as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/customers", timeout=0.3)
        assert client.get("/v1/customers", timeout=5).status_code == 200


def test_truncate_sends_a_valid_status_with_half_a_json_body(crm: Any) -> None:
    crm.admin.fault("truncate")
    with crm.client() as client:
        cut = client.get("/v1/customers", params={"per_page": 50}, headers={"Accept-Encoding": "gzip"})
        whole = client.get("/v1/customers", params={"per_page": 50}, headers={"Accept-Encoding": "identity"})
    assert cut.status_code == 200
    assert 0 < len(cut.content) < len(whole.content)
    assert whole.content.startswith(cut.content)
    with pytest.raises(ValueError):
        cut.json()


def test_drop_closes_the_connection_without_a_response(crm: Any) -> None:
    crm.admin.fault("drop", count=2)
    with crm.client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/customers")
    # A bare socket sees the peer close with zero bytes: no status line at all.
    with socket.create_connection(
        (crm.url.split("//")[1].split(":")[0], int(crm.url.rsplit(":", 1)[1]))
    ) as raw:
        raw.sendall(
            f"GET /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {crm.token}\r\n\r\n".encode()
        )
        raw.settimeout(5)
        try:
            received = raw.recv(1024)
        except ConnectionResetError:
            received = b""
    assert received == b""
    # The server is still healthy afterwards.
    with crm.client() as client:
        assert client.get("/v1/customers").status_code == 200


def test_drop_surfaces_in_requests_and_http_client_too(crm: Any) -> None:
    crm.admin.fault("drop", count=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{crm.url}/v1/customers", headers=crm.headers, timeout=5)
    host, port = crm.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.request("GET", "/v1/customers", headers=crm.headers)
        conn.getresponse()
    conn.close()


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_apply_faults_lose_the_answer_after_the_write_and_a_keyed_retry_is_replayed(
    crm: Any, kind: str
) -> None:
    crm.admin.fault(kind, path="/v1/customers", apply=True)
    key = {"Idempotency-Key": f"lost-{kind}"}
    with crm.client() as client:
        try:
            lost = client.post("/v1/customers", json=NEW, headers=key)
            assert lost.status_code == 500
        except httpx.RemoteProtocolError:
            assert kind == "drop"
        assert crm.admin.stats()["writes_applied"] == 1  # the write happened
        retry = client.post("/v1/customers", json=NEW, headers=key)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert crm.admin.stats()["writes_applied"] == 1
    assert [r["name"] for r in crm.admin.records()].count("Nova Example") == 1


def test_bad_fault_requests_are_422(crm: Any) -> None:
    with crm.client() as client:
        assert client.post("/_admin/faults", json={"kind": "418"}).status_code == 422
        assert client.post("/_admin/faults", json={"kind": "500", "count": 0}).status_code == 422
        assert client.post("/_admin/faults", json={"kind": "slow", "delay": -1}).status_code == 422
        assert client.post("/_admin/faults", json={"kind": "429", "apply": True}).status_code == 422
    assert crm.admin.stats()["faults_pending"] == []


# -- simulated activity and drift ---------------------------------------------------------


def test_touch_moves_records_past_the_watermark(crm: Any) -> None:
    before = {r["id"]: r for r in crm.admin.records()}
    watermark = max(r["updated_at"] for r in before.values())
    touched = crm.admin.touch(ids=[5, 9, 123456])["touched"]
    assert touched == [5, 9]
    random_touch = crm.admin.touch(count=10)["touched"]
    assert len(random_touch) == 10
    with crm.client() as client:
        fresh = _walk_cursor(client, 4, updated_since=watermark)
    # updated_since is inclusive: records stamped exactly at the watermark come again.
    at_watermark = {i for i, r in before.items() if r["updated_at"] == watermark}
    assert {r["id"] for r in fresh} == {5, 9, *random_touch} | at_watermark
    for record in (r for r in fresh if r["id"] not in at_watermark):
        assert record["updated_at"] > watermark
        assert record["tier"] != before[record["id"]]["tier"]


def test_touch_at_a_past_instant_simulates_a_late_arriving_update(crm: Any) -> None:
    crm.admin.touch(ids=[7], at="2024-01-01T00:00:00Z")
    assert crm.admin.records()[0]["id"] == 7
    assert crm.admin.records()[0]["updated_at"] == "2024-01-01T00:00:00.000000Z"


def test_schema_drift_add_drop_retype_and_restore(crm: Any) -> None:
    crm.admin.schema(add_field={"name": "loyalty", "value": "gold"})
    crm.admin.schema(drop_field="tier")
    crm.admin.schema(retype_field={"name": "lifetime_value", "to": "number"})
    with crm.client() as client:
        for record in _walk_cursor(client, 100):
            assert record["loyalty"] == "gold" and "tier" not in record
            assert record["lifetime_value"] is None or isinstance(record["lifetime_value"], float)
        page = client.get("/v1/customers").json()["data"]["items"]
        assert all("tier" not in r for r in page)
        assert client.post("/_admin/schema", json={"resource": "customers"}).status_code == 422
        crm.admin.schema(retype_field={"name": "tier", "to": "string"})
        crm.admin.restore_schema()
        restored = client.get("/v3/customers").json()
        assert all("tier" in r and "loyalty" not in r for r in restored)
        assert any(isinstance(r["lifetime_value"], str) for r in restored)
        crm.admin.schema(retype_field={"name": "tier", "to": "string"})
        tiers = {type(r["tier"]) for r in client.get("/v3/customers").json()}
        assert tiers <= {str, type(None)} and str in tiers


def test_reset_and_seed_regenerate_deterministically(crm: Any) -> None:
    original = crm.admin.records()
    crm.admin.touch(count=20)
    crm.admin.fault("500", count=3)
    crm.admin.reset()
    assert crm.admin.records() == original
    assert crm.admin.stats()["faults_pending"] == []
    assert crm.admin.seed(customers=40, contacts=5, seed=7) == {"customers": 40, "contacts": 5, "seed": 7}
    reseeded = crm.admin.records()
    assert len(reseeded) == 40 and reseeded != original[:40]
    with crm.client() as client:
        assert client.get("/v1/contacts").json()["total"] == 5


def test_concurrent_writers_apply_each_key_exactly_once(crm: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def writer(worker: int) -> list[int]:
        ids = []
        with crm.client() as client:
            for i in range(20):
                # Every worker also sends keys shared by all: each must apply once overall.
                key = f"shared-{i}" if i % 2 else f"w{worker}-{i}"
                body = {**NEW, "name": f"Writer {key}"}
                response = client.post("/v1/customers", json=body, headers={"Idempotency-Key": key})
                assert response.status_code == 201
                ids.append(response.json()["id"])
        return ids

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(writer, range(6)))
    created = {i for ids in results for i in ids}
    assert len(created) == 6 * 10 + 10
    assert crm.admin.stats()["writes_applied"] == 70
    assert len(crm.admin.records()) == 250 + 70
    with crm.client() as client:
        assert _ids_in_order(_walk_cursor(client, 50)) == _ordered_ids(crm)


def test_server_context_manager_starts_on_a_free_port_and_stops_cleanly() -> None:
    from demo.crm.server import CrmServer

    with CrmServer(token="t", customers=5, contacts=0) as first, CrmServer(token="t", customers=5) as second:
        assert first.url != second.url
        assert httpx.get(f"{first.url}/health").status_code == 200
        url = first.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


def test_servers_with_the_same_seed_serve_the_same_data(crm: Any, crm_session: Any) -> None:
    with crm.client() as fresh, crm_session.client() as shared:
        assert _walk_cursor(fresh, 100) == _walk_cursor(shared, 100)
        assert _walk_offsets(fresh, 100) == _walk_offsets(shared, 100)
