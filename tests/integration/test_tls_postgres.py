"""Encryption in transit to PostgreSQL: ``sslmode=verify-full`` from the connection's extras, proven.

The cluster here (``tls_postgres.TlsCluster``) accepts TLS sessions only, with a certificate
signed by a CA the test makes. libpq's default ``sslmode=prefer`` would still negotiate TLS
for a session that lost the extras, without checking anything: so every test runs with
``PGSSLMODE=disable`` and ``PGSSLROOTCERT`` naming another CA in the environment, the
defaults libpq falls back to for what a connection does not say. A session that drops
``sslmode`` is refused by the server, one that drops ``sslrootcert`` refuses the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy
from helpers import (
    execute,
    flows_dag_bag,
    make_spec,
    rows,
    seed_orders,
    source_orders,
    sync,
    target_orders,
    task_states,
    watermark,
)
from psycopg import sql
from tls_helpers import CertificateAuthority, ServerCert, documented_connection, with_ca
from tls_postgres import REPO, TlsCluster

from syncgate.connectors.postgres import adbc_out
from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow
from syncgate.db.connect import connect, sqlalchemy_url
from syncgate.errors import RetriableError
from syncgate.events import triggers

pytestmark = pytest.mark.integration

PKI = dict[str, Path]
Reader = Callable[[str, TlsCluster], tuple[Any, ...]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = CertificateAuthority(folder, "syncgate"), CertificateAuthority(folder, "other")
    server = ca.issue("localhost", "127.0.0.1")
    return {"ca": ca.cert, "other_ca": other.cert, "cert": server.cert, "key": server.key}


@pytest.fixture(scope="module")
def tls_pg(pki: PKI) -> Iterator[TlsCluster]:
    cluster = TlsCluster(REPO / ".syncgate" / "pg-tls-test", ServerCert(pki["cert"], pki["key"]), pki["ca"])
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(autouse=True)
def libpq_defaults_say_the_opposite(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLROOTCERT", str(pki["other_ca"]))


def wire(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    cluster: TlsCluster,
    db: str,
    host: str = "localhost",
    **extra: str,
) -> None:
    """Airflow connection ``conn_id`` to ``db`` with the extras docs/configuration.md shows
    (``sslmode=verify-full``, ``sslrootcert``: here the cluster's CA), then ``extra``."""
    documented = with_ca(documented_connection("postgres")["extra"], cluster.ca)
    conn = {
        "conn_type": "postgres",
        "host": host,
        "port": cluster.port,
        "schema": db,
        "login": "syncgate",
        "extra": {**documented, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def tls_dbs(tls_pg: TlsCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Fresh ``src`` / ``dst`` databases on the TLS cluster as ``src_db`` / ``dst_db`` (verify-full)."""
    suffix = uuid.uuid4().hex[:10]
    names = {"src": f"sg_tls_src_{suffix}", "dst": f"sg_tls_dst_{suffix}"}
    with psycopg.connect(tls_pg.url(), autocommit=True) as admin:
        for name in names.values():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    for key, name in names.items():
        wire(monkeypatch, f"{key}_db", tls_pg, name)
    monkeypatch.setenv("SYNCGATE_LANDING_URL", (tmp_path / "landing").as_uri())
    monkeypatch.setenv("SYNCGATE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SYNCGATE_HASH_KEY", "test-key")
    yield {key: tls_pg.url(name) for key, name in names.items()} | {f"{k}_name": v for k, v in names.items()}
    with psycopg.connect(tls_pg.url(), autocommit=True) as admin:
        for name in names.values():
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_server_refuses_a_session_without_tls(tls_pg: TlsCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry .* no encryption"):
        psycopg.connect(tls_pg.url(sslmode="disable"))
    # The environment's defaults alone (no sslmode, another CA): refused too.
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(f"postgresql://syncgate@localhost:{tls_pg.port}/postgres")
    with psycopg.connect(tls_pg.url()) as conn:
        assert own_tls(conn) == (True, "TLSv1.3")


# -- every kind of session syncgate opens ---------------------------------------------------------

OWN_TLS = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def own_tls(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(OWN_TLS).fetchone()
    assert row is not None
    return tuple(row)


def via_psycopg(conn_id: str, cluster: TlsCluster) -> tuple[Any, ...]:
    with connect(conn_id) as conn:
        return own_tls(conn)


def via_adbc(conn_id: str, cluster: TlsCluster) -> tuple[Any, ...]:
    """The extract's ADBC session, from ``conninfo()``."""
    with adbc_out._AdbcSession(conn_id) as session:
        found = session.query(OWN_TLS, 1 << 20).read_all().to_pylist()
    return (found[0]["ssl"], found[0]["version"])


def via_sqlalchemy(conn_id: str, cluster: TlsCluster) -> tuple[Any, ...]:
    """The engine GX's checkpoint builds from ``sqlalchemy_url()``."""
    engine = sqlalchemy.create_engine(sqlalchemy_url(conn_id))
    try:
        with engine.connect() as conn:
            return tuple(conn.exec_driver_sql(OWN_TLS).one())
    finally:
        engine.dispose()


def via_listen(conn_id: str, cluster: TlsCluster) -> tuple[Any, ...]:
    """The event trigger's LISTEN session, seen from the server while it listens."""
    channel = f"tls_{uuid.uuid4().hex[:8]}"

    async def listen() -> tuple[Any, ...]:
        connected, failed = asyncio.Event(), asyncio.Event()
        seen: list[str] = []
        why: list[str] = []

        class Failed(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if "LISTEN on" in record.getMessage():
                    why.append(record.getMessage())
                    failed.set()

        handler = Failed()
        triggers.log.addHandler(handler)
        task = asyncio.create_task(
            triggers._listen_forever(conn_id, channel, connected.set, seen.append, "tls test")
        )
        try:
            waits = [asyncio.create_task(connected.wait()), asyncio.create_task(failed.wait())]
            await asyncio.wait(waits, timeout=20, return_when=asyncio.FIRST_COMPLETED)
            if not connected.is_set():
                raise ConnectionRefusedError(why[0] if why else "LISTEN did not connect within 20 s")
            with psycopg.connect(cluster.url(), autocommit=True) as admin:
                found = admin.execute(
                    "SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.query = %s",
                    (f'LISTEN "{channel}"',),
                ).fetchall()
                admin.execute(sql.SQL("NOTIFY {}, 'hello'").format(sql.Identifier(channel)))
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.05)
            assert seen == ["hello"]
            assert len(found) == 1
            return tuple(found[0])
        finally:
            triggers.log.removeHandler(handler)
            task.cancel()
            for wait in waits:
                wait.cancel()

    return asyncio.run(listen())


SESSIONS: dict[str, Reader] = {
    "psycopg": via_psycopg,
    "adbc": via_adbc,
    "sqlalchemy": via_sqlalchemy,
    "listen": via_listen,
}


@pytest.mark.parametrize("kind", SESSIONS)
def test_every_kind_of_session_verifies_the_server_with_the_extras(
    kind: str, tls_pg: TlsCluster, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = SESSIONS[kind]
    wire(monkeypatch, "tls_db", tls_pg, "postgres")
    assert read("tls_db", tls_pg) == (True, "TLSv1.3")
    # The error says why (the libpq reason), whichever kind of session it is.
    refused = (RetriableError, sqlalchemy.exc.OperationalError, ConnectionRefusedError)
    # Trusting another CA: the server's chain does not verify.
    wire(monkeypatch, "tls_db", tls_pg, "postgres", sslrootcert=str(pki["other_ca"]))
    with pytest.raises(refused, match="certificate verify failed"):
        read("tls_db", tls_pg)
    # Reaching the server under another name: only verify-full checks the name (libpq checks
    # the chain under any sslmode once it has a root certificate).
    wire(monkeypatch, "tls_db", tls_pg, "postgres", host="db.example.invalid", hostaddr="127.0.0.1")
    with pytest.raises(
        refused, match='certificate for "localhost" .* does not match host name "db.example.invalid"'
    ):
        read("tls_db", tls_pg)


# -- a flow ---------------------------------------------------------------------------------------


SEEN = (
    "SELECT current_database(), current_setting('application_name'), s.ssl, s.version "
    "FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
)


@pytest.fixture
def psycopg_sessions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``pg_stat_ssl`` of each session syncgate opens through psycopg, read as it opens.

    That is every stage's and state session (``syncgate.db.connect``) and the GX checkpoint's
    (SQLAlchemy's psycopg dialect calls ``psycopg.connect``); the tests' own sessions do not
    set ``application_name=syncgate`` and are left out.
    """
    seen: list[tuple[Any, ...]] = []
    real = psycopg.connect

    def recording(*args: Any, **kwargs: Any) -> Any:
        conn = real(*args, **kwargs)
        row = conn.execute(SEEN).fetchone()
        if row is not None and row[1] == "syncgate":
            seen.append(tuple(row))
        return conn

    monkeypatch.setattr(psycopg, "connect", recording)
    return seen


def assert_sessions_were_tls(
    cluster: TlsCluster, since: int, seen: list[tuple[Any, ...]], dbs: dict[str, int]
) -> None:
    """Each session syncgate opened to the databases was TLS, by ``pg_stat_ssl`` and the server log.

    ``dbs``: database -> sessions the ADBC driver opened, which psycopg does not open and only the
    log (``log_connections``: every session, the tests' own too) shows.
    """
    logged = [line for line in cluster.log_since(since).splitlines() if "connection authorized:" in line]
    for db, adbc in dbs.items():
        mine = [row for row in seen if row[0] == db]
        assert mine, f"no syncgate session to {db} seen: {seen}"
        assert {row[2:] for row in mine} == {(True, "TLSv1.3")}, mine
        theirs = [line for line in logged if f"database={db} " in line]
        assert len(theirs) >= len(mine) + adbc, "\n".join(theirs)
        assert all("SSL enabled (protocol=TLSv1.3" in line for line in theirs), "\n".join(theirs)


@pytest.mark.parametrize("capture", ["cursor", "wal"])
def test_a_flow_syncs_with_every_session_verified(
    capture: str,
    tls_dbs: dict[str, str],
    tls_pg: TlsCluster,
    psycopg_sessions: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, dst = tls_dbs["src"], tls_dbs["dst"]
    seed_orders(src, 300)
    spec = make_spec(source__cursor=None, source__capture="wal") if capture == "wal" else make_spec()
    landed_by_adbc: list[Any] = []
    real = adbc_out.fetch_to_parquet

    def spy(*args: Any, **kwargs: Any) -> Any:
        landed_by_adbc.append(real(*args, **kwargs))
        return landed_by_adbc[-1]

    monkeypatch.setattr(adbc_out, "fetch_to_parquet", spy)
    mark = tls_pg.log_offset()
    if capture == "wal":
        setup_flow(spec)
    try:
        sync(spec)
        assert target_orders(dst) == source_orders(src)
        execute(
            src,
            "UPDATE public.orders SET status = 'S', updated_at = now() WHERE id <= 10",
            "DELETE FROM public.orders WHERE id IN (20, 21)",
            "INSERT INTO public.orders VALUES (900, 'P', 1, 'new', NULL, now())",
        )
        sync(spec)
        assert target_orders(dst) == source_orders(src)
    finally:
        if capture == "wal":
            drop_flow(spec)
    assert landed_by_adbc and all(landed_by_adbc), "the extract did not go through the ADBC driver"
    dbs = {tls_dbs["src_name"]: len(landed_by_adbc), tls_dbs["dst_name"]: 0}
    assert_sessions_were_tls(tls_pg, mark, psycopg_sessions, dbs)


DAG_SPEC = """
id: tls_orders
owner: qa
tags: [test]
schedule: "0 * * * *"
retries: 0
source: {type: postgres, conn_id: src_db, table: public.orders, primary_key: [id], cursor: updated_at}
target: {type: postgres, conn_id: dst_db, table: analytics.orders, write: merge}
"""


def test_the_dag_syncs_over_verified_tls(
    tls_dbs: dict[str, str],
    tls_pg: TlsCluster,
    psycopg_sessions: list[tuple[Any, ...]],
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The real DAG under ``dag.test()``: connections come through Airflow's task runtime."""
    src, dst = tls_dbs["src"], tls_dbs["dst"]
    seed_orders(src, 200)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "tls_orders.yml").write_text(DAG_SPEC)
    mark = tls_pg.log_offset()
    run = flows_dag_bag(monkeypatch, flows).dags["tls_orders"].test()
    assert task_states(run) == dict.fromkeys(["extract", "transform", "load", "verify", "promote"], "success")
    assert rows(dst, "SELECT id, status, amount FROM analytics.orders ORDER BY id") == rows(
        src, "SELECT id, status, amount FROM public.orders ORDER BY id"
    )
    assert_sessions_were_tls(tls_pg, mark, psycopg_sessions, {tls_dbs["src_name"]: 0, tls_dbs["dst_name"]: 0})


# -- a certificate that does not match ------------------------------------------------------------


@pytest.mark.parametrize(
    ("conn_id", "wrong", "message"),
    [
        # The server's certificate is valid, from the trusted CA, but for another host name.
        ("src_db", {"host": "db.example.invalid", "hostaddr": "127.0.0.1"}, 'does not match host name "db.example.invalid"'),
        # The certificate the server presents is not from the CA the connection trusts.
        ("dst_db", {"sslrootcert": "other_ca"}, "certificate verify failed"),
    ],
    ids=["source-cert-for-another-host", "target-cert-from-another-ca"],
)  # fmt: skip
def test_a_certificate_that_does_not_match_fails_the_run_and_moves_nothing(
    conn_id: str,
    wrong: dict[str, str],
    message: str,
    tls_dbs: dict[str, str],
    tls_pg: TlsCluster,
    pki: PKI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, dst = tls_dbs["src"], tls_dbs["dst"]
    seed_orders(src, 100)
    spec = make_spec()
    sync(spec)
    execute(src, "UPDATE public.orders SET status = 'X', updated_at = now() WHERE id <= 5")
    before = rows(dst, "SELECT id, xmin::text FROM analytics.orders ORDER BY id")
    mark = watermark(dst)
    db = tls_dbs[conn_id.removesuffix("_db") + "_name"]
    host = wrong.get("host", "localhost")
    extra = {k: str(pki[v]) if v in pki else v for k, v in wrong.items() if k != "host"}
    wire(monkeypatch, conn_id, tls_pg, db, host=host, **extra)

    with pytest.raises(RetriableError) as failed:
        sync(spec)
    assert f"cannot connect to {conn_id!r}" in str(failed.value)
    assert message in str(failed.value)
    assert rows(dst, "SELECT id, xmin::text FROM analytics.orders ORDER BY id") == before
    assert watermark(dst) == mark

    wire(monkeypatch, conn_id, tls_pg, db)
    sync(spec)
    assert target_orders(dst) == source_orders(src)
