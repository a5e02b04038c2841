"""Open psycopg connections from Airflow connection ids, without ever logging secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import psycopg

# Connection ``extra`` keys that are libpq parameters (sslmode etc.); others are ignored.
_LIBPQ_EXTRAS = {
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "connect_timeout",
    "application_name", "keepalives", "keepalives_idle", "target_session_attrs", "options",
}  # fmt: skip


def conninfo(conn_id: str) -> str:
    """The libpq conninfo string for an Airflow connection (holds the password: never log it)."""
    from airflow.sdk import BaseHook
    from psycopg.conninfo import make_conninfo

    conn = BaseHook.get_connection(conn_id)
    extra = {k: v for k, v in conn.extra_dejson.items() if k in _LIBPQ_EXTRAS}
    params: dict[str, Any] = {
        "host": conn.host or "localhost",
        "port": conn.port or 5432,
        "dbname": conn.schema or "postgres",
        "user": conn.login,
        "password": conn.password,
        "application_name": "syncgate",
        **extra,
        # Landed batches are UTF-8 Arrow strings: let PostgreSQL convert a LATIN1 (or other)
        # database's text on the way out, whatever the connection's extra says.
        "client_encoding": "UTF8",
    }
    return make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for GX; holds the password: never log it."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(conninfo(conn_id))
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host, port, db = params.pop("host"), params.pop("port"), params.pop("dbname")
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(params.items()))
    return f"postgresql+psycopg://{auth}{host}:{port}/{quote(str(db), safe='')}" + (
        f"?{query}" if query else ""
    )


def connect(conn_id: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """Open a connection to the database behind ``conn_id`` with UTC, ISO settings."""
    import psycopg

    from syncgate.errors import RetriableError

    try:
        conn = psycopg.connect(conninfo(conn_id), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        # The message names host and database, never the password.
        raise RetriableError(f"cannot connect to {conn_id!r}: {exc}") from None
    conn.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")
    if not autocommit:
        conn.commit()
    return conn
