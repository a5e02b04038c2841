from __future__ import annotations

import pytest

from syncgate.db.connect import conninfo, sqlalchemy_url

pytestmark = pytest.mark.unit


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
