from __future__ import annotations

import json

import pytest

from syncgate.connectors.http.client import ApiClient
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    extra = json.dumps({"headers": {"X-Api-Key": "k3y-VALUE-123"}, "X-Trace": "on"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_UNIT",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http",
                    "password": "t0ken-SECRET", "extra": extra}),
    )  # fmt: skip
    return ApiClient("crm_unit")


def test_base_url_auth_and_headers_come_from_the_connection(client: ApiClient) -> None:
    session = client._connect()
    assert client.base_url == "http://127.0.0.1:9/"
    assert client.url("/v1/customers") == "http://127.0.0.1:9/v1/customers"
    assert client.url("http://127.0.0.1:9/v1/customers?page=2") == "http://127.0.0.1:9/v1/customers?page=2"
    with pytest.raises(FatalError, match="not on the connection's origin"):
        client.url("https://other.example/x?a=1")  # a next link elsewhere must not get the token
    assert session.headers["Authorization"] == "Bearer t0ken-SECRET"
    assert session.headers["X-Api-Key"] == "k3y-VALUE-123"
    assert session.headers["X-Trace"] == "on"
    assert "headers" not in session.headers
    assert session.headers["Accept-Encoding"] == "gzip"


def test_urls_in_errors_hide_credentials_and_secret_params(client: ApiClient) -> None:
    client._connect()
    shown = client.redact_url(
        "https://user:pw@api.example:8443/v1/x?api_key=abc&page=2", {"access_token": "zzz", "per_page": 10}
    )
    assert shown == "https://api.example:8443/v1/x?api_key=***&page=2&access_token=***&per_page=10"


def test_body_excerpts_never_echo_the_token(client: ApiClient) -> None:
    client._connect()
    body = (
        b'{"error": "bad token t0ken-SECRET", "hint": "Authorization: Bearer abc.def", "k": "k3y-VALUE-123"}'
    )
    text = client.excerpt(body)
    assert "t0ken-SECRET" not in text and "abc.def" not in text and "k3y-VALUE-123" not in text
    assert "bad token ***" in text
    assert client.excerpt(b"x" * 1000).endswith("...")
