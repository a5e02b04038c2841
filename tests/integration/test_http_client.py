"""ApiClient against a real loopback HTTP server that replays scripted responses."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from syncgate.connectors.http.client import ApiClient, HttpStatusError
from syncgate.connectors.http.retry import RetryPolicy
from syncgate.errors import FatalError, RetriableError

pytestmark = pytest.mark.integration

TOKEN = "s3cret-T0KEN-value"


class Scripted(BaseHTTPRequestHandler):
    script: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._reply()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._reply()

    def _reply(self) -> None:
        type(self).seen.append({"path": self.path, "headers": dict(self.headers)})
        step = type(self).script.pop(0) if type(self).script else {"status": 200, "body": {"ok": True}}
        if step.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        payload = json.dumps(step.get("body", {})).encode()
        if step.get("truncate"):
            payload = payload[: len(payload) // 2]
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
        data = gzip.compress(payload) if gz else payload
        self.send_response(step.get("status", 200))
        self.send_header("Content-Type", "application/json")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for name, value in step.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Scripted]]:
    Scripted.script, Scripted.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": httpd.server_port, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SCRIPTED", json.dumps(conn))
    yield Scripted
    httpd.shutdown()
    httpd.server_close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(sleeps: Sleeps, attempts: int = 5) -> ApiClient:
    return ApiClient("scripted", retry=RetryPolicy(max_attempts=attempts, backoff_seconds=0.01), sleep=sleeps)


def test_gzip_json_with_bytes_on_the_wire_and_decoded(server: type[Scripted]) -> None:
    body = {"data": [{"id": i, "name": "same name again"} for i in range(200)]}
    server.script = [{"body": body}]
    response = make_client(Sleeps()).get_json("/v1/things", {"page": 1})
    assert response.body == body
    assert response.bytes_decoded == len(json.dumps(body).encode())
    assert 0 < response.bytes_wire < response.bytes_decoded / 5  # compressed on the wire
    assert server.seen[0]["path"] == "/v1/things?page=1"
    assert server.seen[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert server.seen[0]["headers"]["Accept-Encoding"] == "gzip"


def test_retry_after_seconds_date_and_malformed_are_honoured(server: type[Scripted]) -> None:
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.script = [
        {"status": 429, "headers": {"Retry-After": "3"}},
        {"status": 429, "headers": {"Retry-After": date}},
        {"status": 503, "headers": {"Retry-After": "in a bit"}},
        {"body": {"ok": 1}},
    ]
    sleeps = Sleeps()
    assert make_client(sleeps).get_json("/x").body == {"ok": 1}
    assert sleeps[0] == 3.0
    assert 25 < sleeps[1] <= 30
    assert 0 <= sleeps[2] <= 0.04  # malformed: exponential backoff (attempt 3: cap 0.04)


def test_500_drop_and_truncated_body_are_retried(server: type[Scripted]) -> None:
    server.script = [{"status": 500}, {"drop": True}, {"truncate": True, "body": {"a": "b" * 100}}, {}]
    sleeps = Sleeps()
    client = make_client(sleeps)
    assert client.get_json("/x").body == {}
    assert len(sleeps) == 3 and client.requests_sent == 4


def test_retries_run_out_as_a_retriable_error(server: type[Scripted]) -> None:
    server.script = [{"status": 503}] * 3
    with pytest.raises(RetriableError, match=r"gave up after 3 attempt\(s\): HTTP 503"):
        make_client(Sleeps(), attempts=3).get_json("/x")


@pytest.mark.parametrize("status", [401, 404, 400])
def test_other_4xx_fail_fast_without_the_token(server: type[Scripted], status: int) -> None:
    server.script = [{"status": status, "body": {"error": f"no such thing for Bearer {TOKEN}"}}]
    sleeps = Sleeps()
    with pytest.raises(HttpStatusError) as caught:
        make_client(sleeps).get_json("/v1/x", {"api_key": "k-123", "page": 2})
    message = str(caught.value)
    assert isinstance(caught.value, FatalError) and caught.value.status == status
    assert f"HTTP {status}" in message and "/v1/x?api_key=***&page=2" in message
    assert "no such thing" in message
    assert TOKEN not in message and "k-123" not in message
    assert sleeps == []


def test_ok_statuses_are_returned_and_writes_carry_json(server: type[Scripted]) -> None:
    server.script = [{"status": 404, "body": {"error": "gone"}}]
    response = make_client(Sleeps()).request(
        "POST", "/v1/x", json={"a": 1}, headers={"Idempotency-Key": "k1"}, ok_statuses={404}
    )
    assert response.status == 404 and response.body == {"error": "gone"}
    assert server.seen[0]["headers"]["Idempotency-Key"] == "k1"


def test_the_token_bucket_paces_requests(server: type[Scripted]) -> None:
    sleeps = Sleeps()
    client = ApiClient("scripted", max_requests_per_second=2, sleep=sleeps)
    for _ in range(5):
        client.get_json("/x")
    # A burst of two, then one request every half second (sleeps recorded, not slept).
    assert len(sleeps) == 3
    assert sleeps == pytest.approx([0.5, 1.0, 1.5], abs=0.2)
