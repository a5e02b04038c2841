"""Source databases whose encoding is not UTF-8, through both extract drivers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from helpers import make_spec
from test_extract_drivers import PLAIN, _count_adbc_fetches, _extract, _landed

from syncgate.errors import FatalError

pytestmark = pytest.mark.integration


def _source_db(pg_url: str, databases: dict[str, str], encoding: str) -> str:
    name = f"sg_{encoding.lower()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    return databases["src"].rsplit("/", 1)[0] + "/" + name


def _drop(pg_url: str, url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _orders_source(
    pg_url: str, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, encoding: str, note: str
) -> Iterator[str]:
    """``src_db`` re-pointed at a fresh ``encoding`` database whose one order holds ``note``
    (an SQL literal, sent in the database's own encoding)."""
    url = _source_db(pg_url, databases, encoding)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.orders (id bigint PRIMARY KEY, note text, updated_at timestamptz NOT NULL)"
        )
        conn.execute(f"INSERT INTO public.orders VALUES (1, {note}, '2026-01-01')")
    monkeypatch.setenv("AIRFLOW_CONN_SRC_DB", url)
    yield url
    _drop(pg_url, url)


@pytest.fixture
def latin1_src(pg_url: str, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A LATIN1 database holding one non-ASCII text value (E'\\xf6' is ö in LATIN1)."""
    yield from _orders_source(pg_url, databases, monkeypatch, "LATIN1", "E'Gr\\xf6\\xdfe'")


@pytest.fixture
def sql_ascii_src(pg_url: str, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQL_ASCII database holding a byte that is not UTF-8."""
    yield from _orders_source(pg_url, databases, monkeypatch, "SQL_ASCII", "E'caf\\xe9 secret'")


@pytest.mark.parametrize("hashed", [False, True])
def test_a_latin1_source_lands_its_text_as_utf8_through_both_drivers(
    latin1_src: str, monkeypatch: pytest.MonkeyPatch, hashed: bool
) -> None:
    # The connection asks PostgreSQL for UTF-8, which converts the LATIN1 text on the way out.
    spec = make_spec(**{**PLAIN, "transform": {"hash": ["note"]} if hashed else {}})
    by_copy = _landed(_extract(spec, monkeypatch, "copy")).column("note").to_pylist()
    fetched = _count_adbc_fetches(monkeypatch)
    by_adbc = _landed(_extract(spec, monkeypatch, "adbc")).column("note").to_pylist()
    assert fetched and fetched[0] is not None  # the ADBC path was taken
    assert by_adbc == by_copy
    assert (by_copy != ["Größe"]) is hashed


@pytest.mark.parametrize("driver", ["copy", "adbc"])
def test_bytes_that_are_not_utf8_fail_the_extract_for_good_without_quoting_them(
    sql_ascii_src: str, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    # PostgreSQL refuses to send them as UTF-8; neither its message nor the bytes reach the error.
    with pytest.raises(FatalError, match="cannot be sent as UTF-8") as caught:
        _extract(make_spec(**PLAIN), monkeypatch, driver)
    assert "secret" not in str(caught.value) and "0xe9" not in str(caught.value)
