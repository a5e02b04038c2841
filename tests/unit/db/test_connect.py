from __future__ import annotations

import importlib.util
import json
import logging
from typing import Any

import pytest

from syncgate.db.connect import connection_params, conninfo, sqlalchemy_url

pytestmark = pytest.mark.unit


def _airflow_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """An Airflow connection in the JSON form of ``AIRFLOW_CONN_<ID>``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "postgres", **fields}))


def test_urls_quote_secrets_and_keep_libpq_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_WH",
        "postgresql://loader:p%40ss%2Fw%3Ard@db.example:6543/warehouse?sslmode=require&unrelated=1",
    )
    url = sqlalchemy_url("wh")
    assert url.startswith("postgresql+psycopg://loader:p%40ss%2Fw%3Ard@db.example:6543/warehouse?")
    assert "sslmode=require" in url and "unrelated" not in url
    info = conninfo("wh")
    assert "dbname=warehouse" in info and "sslmode=require" in info


def test_every_libpq_extra_the_hook_passes_reaches_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    # The old hand-made whitelist dropped passfile, require_auth, tcp_user_timeout, ...
    extra = {
        "sslmode": "disable",
        "options": "-c statement_timeout=12345",
        "passfile": "/run/secrets/pgpass",
        "require_auth": "scram-sha-256",
        "tcp_user_timeout": 9000,
        "keepalives_interval": "7",
    }
    _airflow_conn(monkeypatch, "wh", host="db.example", login="loader", schema="warehouse", extra=extra)
    params = connection_params("wh")
    assert {k: params[k] for k in extra} == extra
    assert params["application_name"] == "syncgate" and params["port"] == 5432
    info = conninfo("wh")
    assert "passfile=/run/secrets/pgpass" in info and "options='-c statement_timeout=12345'" in info
    assert "require_auth=scram-sha-256" in sqlalchemy_url("wh")


def test_client_encoding_is_utf8_whatever_the_connection_says(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {
        "client_encoding": "LATIN1",
        "sqlalchemy_query": {"client_encoding": "LATIN1", "application_name": "gx"},
    }
    _airflow_conn(monkeypatch, "wh", host="db.example", extra=extra)
    assert connection_params("wh")["client_encoding"] == "UTF8"
    assert "client_encoding=UTF8" in conninfo("wh") and "LATIN1" not in conninfo("wh")
    url = sqlalchemy_url("wh")
    assert "client_encoding=UTF8" in url and "LATIN1" not in url
    assert "application_name=gx" in url  # the hook's SQLAlchemy-only extra is honoured for GX


def test_a_connection_without_host_or_schema_keeps_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _airflow_conn(monkeypatch, "bare", login="loader", extra={"application_name": "nightly"})
    params = connection_params("bare")
    assert (params["host"], params["port"], params["dbname"]) == ("localhost", 5432, "postgres")
    assert params["application_name"] == "nightly" and "password" not in params


def test_extras_neither_hook_nor_libpq_know_are_dropped_and_named_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    extra = {
        "sslmode": "require",
        "ssl_mode_typo": "verify-full-secret-ish",
        "unrelated": 1,
        # The hook's own options: consumed by the hook, neither passed on nor warned about.
        "iam": False,
        "aws_conn_id": "aws_prod",
        "cursor": "dictcursor",
        "sqlalchemy_scheme": "postgresql+psycopg2",
    }
    _airflow_conn(monkeypatch, "noisy", host="db.example", extra=extra)
    with caplog.at_level(logging.WARNING, logger="syncgate.db.connect"):
        params = connection_params("noisy")
        connection_params("noisy")
    assert set(params) == {"host", "port", "dbname", "application_name", "sslmode", "client_encoding"}
    assert "row_factory" not in params  # syncgate reads tuples, whatever the hook's cursor extra says
    warnings = [r.getMessage() for r in caplog.records if r.name == "syncgate.db.connect"]
    assert warnings == [
        "Connection 'noisy': extra(s) ssl_mode_typo, unrelated are neither PostgresHook options "
        "nor libpq parameters; ignored"
    ]
    assert "verify-full-secret-ish" not in caplog.text


def test_iam_takes_the_hooks_token_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iam: true`` asks the hook for a token that becomes user, password and port.

    The real token comes from AWS (RDS / Redshift) or Azure, which cannot be reached here: the
    hook's ``get_iam_token`` is replaced by a fake, everything around it is the hook's own code.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.log import redact

    token = "fake-iam-token?X-Amz-Signature=abc&X-Amz-Credential=k/2026"
    asked: list[Any] = []

    def fake_token(self: PostgresHook, conn: Any) -> tuple[str, str, int]:
        asked.append((conn.host, conn.login, conn.extra_dejson.get("aws_conn_id")))
        return "IAM:loader", token, 5439

    monkeypatch.setattr(PostgresHook, "get_iam_token", fake_token)
    extra = {"iam": True, "redshift": True, "aws_conn_id": "aws_prod", "sslmode": "require"}
    _airflow_conn(monkeypatch, "rs", host="my-cluster.abc.eu-west-1.redshift.amazonaws.com", login="loader",
                  schema="dev", extra=extra)  # fmt: skip
    params = connection_params("rs")
    assert asked == [("my-cluster.abc.eu-west-1.redshift.amazonaws.com", "loader", "aws_prod")]
    assert (params["user"], params["password"], params["port"]) == ("IAM:loader", token, 5439)
    assert params["sslmode"] == "require" and not {"iam", "redshift", "aws_conn_id"} & set(params)
    url = sqlalchemy_url("rs")
    assert url.startswith("postgresql+psycopg://IAM%3Aloader:fake-iam-token%3FX-Amz-Signature%3Dabc%26")
    assert redact(f"password={token}") == "password=***"  # the minted token is masked in task logs


@pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.amazon") is not None,
    reason="the Amazon provider is installed: the hook would call AWS for real",
)
def test_iam_without_the_amazon_provider_fails_in_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

    _airflow_conn(monkeypatch, "rds", host="db.example", login="loader", extra={"iam": True})
    with pytest.raises(AirflowOptionalProviderFeatureException, match="apache-airflow-providers-amazon"):
        connection_params("rds")
