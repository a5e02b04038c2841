"""Connections built by PostgresHook: their options take effect on real sessions, syncgate's stay."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from syncgate.db.connect import connect, conninfo, sqlalchemy_url
from syncgate.errors import RetriableError

pytestmark = pytest.mark.integration


def _airflow_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, url: str, **fields: Any) -> None:
    """Airflow connection ``conn_id`` (JSON form) to the database of ``url``, plus ``fields``."""
    where = conninfo_to_dict(url)
    conn = {
        "conn_type": "postgres",
        "host": where["host"],
        "port": int(where["port"]),
        "schema": where["dbname"],
        "login": where["user"],
        **fields,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _show(conn: psycopg.Connection[Any], *settings: str) -> list[str]:
    return [str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in settings]  # type: ignore[index]


def test_hook_extras_take_effect_on_every_kind_of_session(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"sslmode": "disable", "options": "-c statement_timeout=12345"}
    _airflow_conn(monkeypatch, "opts_db", databases["dst"], extra=extra)
    with connect("opts_db") as conn:
        assert _show(conn, "statement_timeout", "application_name", "client_encoding") == [
            "12345ms",
            "syncgate",
            "UTF8",
        ]
        assert _show(conn, "TimeZone", "DateStyle", "IntervalStyle") == ["UTC", "ISO, YMD", "iso_8601"]
        ssl = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl == (False,)
    # conninfo() feeds the ADBC driver: same options.
    with psycopg.connect(conninfo("opts_db")) as conn:
        assert _show(conn, "statement_timeout", "client_encoding") == ["12345ms", "UTF8"]
    # sqlalchemy_url() feeds GX: same options.
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url("opts_db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "12345ms"
    finally:
        engine.dispose()


def test_sslmode_from_the_extra_reaches_libpq(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server has no SSL: a connection that requires it must fail, retriably.
    _airflow_conn(monkeypatch, "ssl_db", databases["dst"], extra={"sslmode": "require"})
    with pytest.raises(RetriableError, match=r"cannot connect to 'ssl_db'.*SSL"):
        connect("ssl_db")


def test_client_encoding_stays_utf8_whatever_the_connection_asks(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {
        "client_encoding": "LATIN1",
        "options": "-c client_encoding=LATIN1",
        "sqlalchemy_query": {"client_encoding": "LATIN1"},
    }
    _airflow_conn(monkeypatch, "latin_db", databases["dst"], extra=extra)
    with connect("latin_db") as conn:
        assert _show(conn, "client_encoding") == ["UTF8"]
    with psycopg.connect(conninfo("latin_db")) as conn:
        assert _show(conn, "client_encoding") == ["UTF8"]
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url("latin_db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW client_encoding").scalar() == "UTF8"
    finally:
        engine.dispose()


@pytest.fixture
def password_role(pg_url: str, databases: dict[str, str]) -> Iterator[dict[str, str]]:
    """A login role that must authenticate with SCRAM (the test cluster trusts everyone else)."""
    role, password = f"sg_pw_{uuid.uuid4().hex[:8]}", f"Corr3ct-{uuid.uuid4().hex}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        if not os.access(hba, os.W_OK):
            pytest.skip("the server's pg_hba.conf is not writable from here (SYNCGATE_TEST_PG_URL)")
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password))
        original = hba.read_text()
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
        admin.execute("SELECT pg_reload_conf()")
    url = databases["dst"].replace("syncgate@", f"{role}@")
    _wait_until_password_required(url)
    try:
        yield {"url": url, "role": role, "password": password}
    finally:
        hba.write_text(original)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _wait_until_password_required(url: str) -> None:
    """pg_reload_conf() only signals the postmaster: wait until it applies the new rule."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            psycopg.connect(url).close()
        except psycopg.OperationalError:
            return
        time.sleep(0.05)
    pytest.fail("the server did not apply the pg_hba.conf rule")


def test_a_wrong_password_is_retriable_and_never_quoted(
    password_role: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng-Pa55word-xyz"
    _airflow_conn(monkeypatch, "pw_db", password_role["url"], password=wrong)
    with pytest.raises(RetriableError) as caught:
        connect("pw_db")
    message = str(caught.value)
    database = conninfo_to_dict(password_role["url"])["dbname"]
    assert "'pw_db'" in message and database in message and "127.0.0.1" in message
    assert "password authentication failed" in message
    assert wrong not in message and password_role["password"] not in message


def test_libpq_extras_beyond_the_old_whitelist_work(
    password_role: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No password in the connection: libpq reads it from the passfile extra.
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{password_role['role']}:{password_role['password']}\n")
    passfile.chmod(0o600)
    extra = {"passfile": str(passfile), "require_auth": "scram-sha-256"}
    _airflow_conn(monkeypatch, "passfile_db", password_role["url"], extra=extra)
    with connect("passfile_db") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (password_role["role"],)


def test_require_auth_refuses_a_server_that_asks_for_no_password(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _airflow_conn(monkeypatch, "trust_db", databases["src"], extra={"require_auth": "scram-sha-256"})
    with pytest.raises(RetriableError, match=r"cannot connect to 'trust_db' .*scram-sha-256"):
        connect("trust_db")


def test_an_iam_token_from_the_hook_is_the_password_on_the_wire(
    password_role: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS / Azure cannot be reached here: the hook's token source is a fake that hands out the
    role's real password, so the server proves the token is what authenticates the session."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    port = int(conninfo_to_dict(password_role["url"])["port"])

    def fake_token(self: PostgresHook, conn: Any) -> tuple[str, str, int]:
        return password_role["role"], password_role["password"], port

    monkeypatch.setattr(PostgresHook, "get_iam_token", fake_token)
    _airflow_conn(monkeypatch, "iam_db", password_role["url"], login="iam_user", port=1, extra={"iam": True})
    with connect("iam_db") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (password_role["role"],)
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url("iam_db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == password_role["role"]
    finally:
        engine.dispose()
