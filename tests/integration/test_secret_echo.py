"""An API that echoes its caller's credentials: no 6-character run of a secret is kept anywhere.

A real loopback API answers every request with an error whose body quotes part of the token it
received (prefix, suffix, middle, whole, URL-encoded or JSON-escaped) and whose headers echo it.
The error must reach the audit row, the run report and the task log with no run of
``WINDOW`` characters of the secret: generated secrets and echoes (hypothesis) through the HTTP
client and the stage wrapper, then a few of them through the real DAG (``dag.test()``).
"""

from __future__ import annotations

import html
import json
import logging
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from helpers import flows_dag_bag, rows, task_states
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

WINDOW = 6  # the issue: no run of 6 or more characters of a secret (syncgate.redact.mask.WINDOW)

pytestmark = pytest.mark.integration

# What may travel in an HTTP header: visible ASCII.
HEADER_SAFE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=WINDOW, max_size=48)
ECHOES = ["prefix", "suffix", "middle", "whole", "url", "header_line"]


def leaked(text: str, secret: str) -> list[str]:
    """Runs of ``WINDOW`` characters of ``secret`` found in ``text`` (also once URL-decoded)."""
    forms = {text, unquote(text), html.unescape(text)}
    runs = {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
    return sorted(r for r in runs if any(r in f for f in forms))


def echo_of(secret: str, how: str, cut: int) -> str:
    """The part of ``secret`` an API quotes back (``cut`` picks where a middle part starts)."""
    if how == "prefix":
        return secret[: max(WINDOW, min(14, len(secret)))]
    if how == "suffix":
        return secret[-max(WINDOW, min(10, len(secret))) :]
    if how == "middle":
        start = cut % (len(secret) - WINDOW + 1)
        return secret[start : start + WINDOW]
    if how == "url":
        return quote(secret, safe="")
    if how == "header_line":
        return f"X-Api-Key: {secret}"
    return secret


class EchoApi(BaseHTTPRequestHandler):
    """Refuses every request, quoting back the credential it was sent."""

    how = "prefix"
    cut = 0
    status = 401

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        sent = self.headers.get("X-Api-Key") or (self.headers.get("Authorization") or "").removeprefix(
            "Bearer "
        )
        echo = echo_of(sent, type(self).how, type(self).cut)
        body = json.dumps(
            {"error": "invalid credentials", "detail": f"token {echo} is not valid", "hint": f"got ...{echo}"}
        ).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("WWW-Authenticate", f'Bearer error="invalid_token", token="{sent}"')
        self.send_header("X-Echo-Key", sent)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _forget_generated_secrets() -> Iterator[None]:
    """Generated secrets (``000000``...) must not mask other tests' text in this process."""
    from airflow.sdk.log import _secrets_masker  # type: ignore[attr-defined]

    from syncgate.redact.registry import forget_all

    yield
    forget_all()
    _secrets_masker().reset_masker()


@pytest.fixture(scope="module")
def echo_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@contextmanager
def connection(url: str, secret: str, where: str) -> Iterator[None]:
    """Airflow connection ``echo_api`` carrying ``secret`` as bearer password or X-Api-Key header."""
    import os

    host, port = url.removeprefix("http://").split(":")
    conn: dict[str, Any] = {"conn_type": "http", "host": host, "port": int(port)}
    if where == "password":
        conn["password"] = secret
    else:
        conn["extra"] = {"headers": {"X-Api-Key": secret}}
    old = os.environ.get("AIRFLOW_CONN_ECHO_API")
    os.environ["AIRFLOW_CONN_ECHO_API"] = json.dumps(conn)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("AIRFLOW_CONN_ECHO_API", None)
        else:
            os.environ["AIRFLOW_CONN_ECHO_API"] = old


@given(
    secret=HEADER_SAFE,
    where=st.sampled_from(["password", "header"]),
    how=st.sampled_from(ECHOES),
    cut=st.integers(0, 100),
    status=st.sampled_from([401, 403, 503]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_echoed_secret_never_survives_the_client_and_the_stage(
    echo_api: str, caplog: pytest.LogCaptureFixture, secret: str, where: str, how: str, cut: int, status: int
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from syncgate.connectors.http.client import ApiClient
    from syncgate.connectors.http.retry import RetryPolicy
    from syncgate.dag_factory import _stage
    from syncgate.errors import RetriableError
    from syncgate.errors_text import safe_error_text
    from syncgate.redact.registry import forget_all

    forget_all()  # each example proves its own secret is masked, not an earlier one's
    EchoApi.how, EchoApi.cut, EchoApi.status = how, cut, status
    caplog.clear()
    with connection(echo_api, secret, where), caplog.at_level(logging.INFO):
        client = ApiClient(
            "echo_api", retry=RetryPolicy(max_attempts=2, backoff_seconds=0.0), sleep=lambda _: None
        )
        with pytest.raises((AirflowFailException, RetriableError)) as caught:
            _stage(lambda: client.get_json("/v1/things", params={"api_key": secret}))
        client.close()
    error = caught.value
    chain = []
    while error is not None:
        chain.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    stored = safe_error_text(caught.value)
    assert "HTTP" in " ".join(chain)  # the API's answer did arrive
    for text in (*chain, stored, caplog.text):
        assert leaked(text, secret) == [], text


SPEC = """
id: echo_flow
retries: 0
source:
  type: http
  conn_id: echo_api
  endpoint: /v1/customers
  records: data
  primary_key: [id]
  retry: {max_attempts: 2, backoff_seconds: 0.01}
target:
  type: postgres
  conn_id: dst_db
  table: crm.echoed
"""


# Long secrets quoted in part: a whole echo was already masked before (the two cases first).
LONG_SECRETS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=24, max_size=48)


@given(
    secret=LONG_SECRETS,
    where=st.sampled_from(["password", "header"]),
    how=st.sampled_from(["prefix", "suffix", "middle"]),
)
@example(secret="sk_live_4eC39HqLyjWDarjtT1zdp7dc", where="password", how="prefix")
@example(secret="a8f5f167f44f4964e6c998dee827110c", where="header", how="suffix")
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_echoed_secret_is_not_in_the_audit_row_the_report_or_the_task_log(
    echo_api: str,
    databases: dict[str, str],
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    secret: str,
    where: str,
    how: str,
) -> None:
    from syncgate.redact.registry import forget_all

    forget_all()  # each example proves its own secret is masked, not an earlier one's
    EchoApi.how, EchoApi.cut, EchoApi.status = how, 3, 401
    flows = tmp_path_factory.mktemp("flows")
    (flows / "echo_flow.yml").write_text(textwrap.dedent(SPEC))
    reports = tmp_path_factory.mktemp("reports")
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(reports))
    capfd.readouterr()
    caplog.clear()
    with connection(echo_api, secret, where):
        dag = flows_dag_bag(monkeypatch, flows).dags["echo_flow"]
        run = dag.test()
    assert task_states(run)["extract"] == "failed"
    errors = [
        e
        for (e,) in rows(databases["dst"], "SELECT error FROM syncgate.sync_runs WHERE flow_id = 'echo_flow'")
    ]
    assert errors and all("HTTP 401" in e for e in errors), errors
    report_texts = [p.read_text() for p in reports.rglob("*") if p.suffix in (".json", ".html")]
    assert report_texts, "no run report was written: the check below would prove nothing"
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "HTTP 401" in logs, "the task log was not captured: the check below would prove nothing"
    for text in (*errors, *report_texts, logs):
        assert leaked(text, secret) == []
