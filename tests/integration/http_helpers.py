"""Helpers for HTTP-source integration tests: a CRM connection and specs against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import apply_overrides

from syncgate.spec.model import FlowSpec

FLOW = "crm_customers"


def connect_crm(monkeypatch: pytest.MonkeyPatch, crm: Any, token: str | None = None) -> None:
    """Airflow connection ``crm_api`` -> the test CRM, bearer token in the password."""
    host, port = crm.url.removeprefix("http://").split(":")
    conn = {"conn_type": "http", "host": host, "port": int(port), "password": token or crm.token}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps(conn))


STYLES: dict[str, dict[str, Any]] = {
    "page": {
        "endpoint": "/v1/customers",
        "records": "data.items",
        "params": {"status": "all"},
        "pagination": {"style": "page", "page_param": "page", "size_param": "per_page", "size": 40},
    },
    "offset": {
        "endpoint": "/v1/contacts",
        "records": "items",
        "pagination": {"style": "offset", "offset_param": "offset", "size_param": "limit", "size": 60},
    },
    "token": {
        "endpoint": "/v2/customers",
        "records": "data",
        "pagination": {
            "style": "token", "token_path": "meta.next", "token_param": "cursor", "size_param": "limit", "size": 40,
        },
    },
    "link": {
        "endpoint": "/v3/customers",
        "pagination": {"style": "link", "size_param": "per_page", "size": 40},
    },
}  # fmt: skip


def http_spec(style: str = "page", **overrides: Any) -> FlowSpec:
    """crm_api (one pagination style) -> dst_db.analytics.<resource>, overridable per key (a__b)."""
    resource = "contacts" if style == "offset" else "customers"
    source: dict[str, Any] = {
        "type": "http",
        "conn_id": "crm_api",
        "primary_key": ["id"],
        "cursor": "updated_at",
        "cursor_param": "updated_since",
        "retry": {"max_attempts": 4, "backoff_seconds": 0.05},
        **json.loads(json.dumps(STYLES[style])),
    }
    if resource == "customers":
        source["fields"] = {
            "city": "address.city",
            "country": {"path": "address.country", "type": "text"},
            "updated_at": {"path": "updated_at", "type": "timestamp with time zone"},
            "lifetime_value": {"path": "lifetime_value", "type": "numeric(12,2)"},
        }
    spec: dict[str, Any] = {
        "id": FLOW,
        "retries": 0,
        "source": source,
        "target": {
            "type": "postgres",
            "conn_id": "dst_db",
            "table": f"analytics.{resource}",
            "write": "merge",
        },
    }
    return FlowSpec.model_validate(apply_overrides(spec, overrides))


@contextmanager
def json_api(
    monkeypatch: pytest.MonkeyPatch, pages: dict[str, Any], links: dict[str, str] | None = None
) -> Iterator[str]:
    """A loopback API serving fixed JSON bodies by path (``links``: path -> next page's path, sent
    as an absolute ``Link: rel="next"``), wired as the ``crm_api`` connection; yields its URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(pages[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if links and self.path in links:
                self.send_header("Link", f'<{url}{links[self.path]}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "password": "t0ken"}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps(conn))
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
