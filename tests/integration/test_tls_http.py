"""Encryption in transit to an HTTPS API with its own CA: the connection's extra ``verify`` names it.

The demo CRM serves HTTPS on loopback with a certificate signed by a CA the test makes. The
client process trusts that CA only through the connection; ``REQUESTS_CA_BUNDLE`` points at
the public CAs (``certifi``), as on a machine with a system-wide bundle, and must not win.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
from crm_push import crm_customers, make_http_spec, seed_customers, source_customers
from helpers import execute, rows, sync, watermark
from http_helpers import FLOW, http_spec
from tls_helpers import CertificateAuthority, documented_connection, with_ca

from demo.crm.server import CrmServer
from syncgate.connectors.http.client import HttpTlsError

pytestmark = pytest.mark.integration

TOKEN = "crm-tls-t0ken-secret"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("pki"), "api")


@pytest.fixture
def https_crm(ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> Iterator[CrmServer]:
    server = ca.issue("localhost", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with CrmServer(
        token=TOKEN, customers=120, contacts=0,
        ssl_certfile=str(server.cert), ssl_keyfile=str(server.key), ssl_cafile=str(ca.cert),
    ) as crm:  # fmt: skip
        yield crm


def documented(ca: CertificateAuthority) -> dict[str, Any]:
    """The extra docs/configuration.md shows for an HTTPS API (``verify``), naming the test CA."""
    return with_ca(documented_connection("http")["extra"], ca.cert)


def wire(monkeypatch: pytest.MonkeyPatch, crm: CrmServer, **extra: Any) -> None:
    """The HTTP connection ``crm_api`` to the CRM over https, with ``extra`` (e.g. ``verify``)."""
    assert crm.url.startswith("https://")
    host, port = crm.url.removeprefix("https://").split(":")
    conn = {"conn_type": "http", "schema": "https", "host": host, "port": int(port), "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps({**conn, "extra": extra}))


def target_customers(dst: str) -> list[tuple[Any, ...]]:
    return rows(dst, "SELECT id, name, updated_at::text FROM analytics.customers ORDER BY id")


def crm_records(crm: CrmServer) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["name"]) for r in crm.admin.records("customers"))


def test_an_https_source_with_its_own_ca_syncs(
    https_crm: CrmServer, ca: CertificateAuthority, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wire(monkeypatch, https_crm, **documented(ca))
    sync(http_spec("page"))
    assert [(i, n) for i, n, _ in target_customers(databases["dst"])] == crm_records(https_crm)
    assert len(crm_records(https_crm)) == 120


def test_without_the_ca_the_run_fails_at_once_and_loses_nothing(
    https_crm: CrmServer,
    ca: CertificateAuthority,
    databases: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dst = databases["dst"]
    spec = http_spec("page")
    wire(monkeypatch, https_crm, **documented(ca))
    sync(spec)
    https_crm.admin.touch("customers", ids=[3, 17, 42])
    before, mark = target_customers(dst), watermark(dst, FLOW)

    wire(monkeypatch, https_crm)  # the system's CAs only
    with pytest.raises(HttpTlsError) as refused:
        sync(spec)
    message = str(refused.value)
    assert "(connection 'crm_api')" in message and "/v1/customers" in message
    assert "TLS certificate was refused: unable to get local issuer certificate" in message
    assert "extra 'verify'" in message and TOKEN not in message
    assert "retry 1 of" not in caplog.text  # a certificate does not get better by retrying
    assert target_customers(dst) == before and watermark(dst, FLOW) == mark

    wire(monkeypatch, https_crm, **documented(ca))
    sync(spec)
    assert [(i, n) for i, n, _ in target_customers(dst)] == crm_records(https_crm)
    assert target_customers(dst) != before  # the touched records arrived


def test_a_ca_bundle_that_is_not_there_is_named(
    https_crm: CrmServer, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    wire(monkeypatch, https_crm, verify=str(missing))
    with pytest.raises(HttpTlsError, match=f"extra 'verify' names '{missing}', which does not exist"):
        sync(http_spec("page"))


def test_an_https_target_with_its_own_ca_receives_every_change(
    ca: CertificateAuthority, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ca.issue("localhost", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    src = databases["src"]
    seed_customers(src, 40)
    with CrmServer(
        token=TOKEN, customers=0, contacts=0,
        ssl_certfile=str(server.cert), ssl_keyfile=str(server.key), ssl_cafile=str(ca.cert),
    ) as crm:  # fmt: skip
        wire(monkeypatch, crm, **documented(ca))
        spec = make_http_spec()
        sync(spec)
        assert crm_customers(crm) == source_customers(src)
        execute(src, "UPDATE public.customers SET status = 'inactive', updated_at = now() WHERE id <= 5")
        sync(spec)
        assert crm_customers(crm) == source_customers(src)
