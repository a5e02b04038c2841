"""Open psycopg connections from Airflow connection ids, without ever logging secrets.

The parameters are the ones the Postgres provider's ``PostgresHook.get_conn`` would hand to
psycopg: the hook reads the connection, its extras and, with ``iam: true``, fetches a cloud IAM
token (RDS, Redshift, Redshift Serverless, Azure). A connection therefore works here as in any
other DAG. syncgate layers on top only what its data path relies on: UTF-8 text, an application
name, and session settings (UTC, ISO dates and intervals) for the text forms it lands.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# Where the connection leaves them empty: what syncgate has always connected to.
_DEFAULTS: dict[str, Any] = {
    "host": "localhost",
    "port": 5432,
    "dbname": "postgres",
    "application_name": "syncgate",
}
# The hook turns its ``cursor`` extra into these psycopg arguments; syncgate's code reads rows
# as tuples, so a dict or namedtuple row factory from a connection would break it.
_ROW_FACTORY_ARGS = frozenset({"row_factory", "cursor_factory"})


def connection_params(conn_id: str) -> dict[str, Any]:
    """libpq keyword parameters for ``conn_id`` (they hold the password or IAM token: never log them)."""
    return _layer(conn_id, _hook_connect_args(conn_id)[1])


def conninfo(conn_id: str) -> str:
    """The libpq conninfo string for an Airflow connection (holds the password: never log it).

    The password is a known secret from here on: a driver's error quoting it is redacted.
    """
    from psycopg.conninfo import make_conninfo

    from syncgate.redact import register_secret

    params = connection_params(conn_id)
    register_secret(params.get("password"))
    return make_conninfo(**params)


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for GX; holds the password: never log it.

    The hook's ``sqlalchemy_query`` extra (arguments for SQLAlchemy engines) applies here too;
    ``client_encoding`` stays UTF8 whatever it says.
    """
    hook, args = _hook_connect_args(conn_id)
    query = hook.connection.extra_dejson.get("sqlalchemy_query") or {}
    if not isinstance(query, dict):
        raise TypeError(f"connection {conn_id!r}: extra 'sqlalchemy_query' must be a JSON object")
    params = _layer(conn_id, {**args, **query})
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host, port, db = params.pop("host"), params.pop("port"), params.pop("dbname")
    query_string = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(params.items()))
    return f"postgresql+psycopg://{auth}{host}:{port}/{quote(str(db), safe='')}" + (
        f"?{query_string}" if query_string else ""
    )


def connect(conn_id: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """Open a connection to the database behind ``conn_id`` with UTC, ISO settings."""
    import psycopg

    from syncgate.errors import RetriableError
    from syncgate.redact import redact, register_secret

    params = connection_params(conn_id)
    register_secret(params.get("password"))
    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        # libpq's message names host, port and user, never the password; redact it anyway, since
        # under IAM it is a token minted moments ago that nothing else knows to mask.
        text = redact(str(exc))
        where = f"{params['host']}:{params['port']}/{params['dbname']}"
        raise RetriableError(f"cannot connect to {conn_id!r} ({where}): {text}") from None
    conn.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")
    if not autocommit:
        conn.commit()
    return conn


def _hook_connect_args(conn_id: str) -> tuple[Any, dict[str, Any]]:
    """The hook for ``conn_id`` and the keyword arguments its ``get_conn`` would pass to psycopg."""
    hook = _args_only_hook_class()(postgres_conn_id=conn_id)
    args = hook.get_conn()
    if not isinstance(args, dict):
        # A provider upgrade moved get_conn's connect step (see _args_only_hook_class): the hook
        # connected by itself, without syncgate's guarantees.
        args.close()
        raise TypeError("PostgresHook.get_conn no longer connects through _create_connection")
    return hook, args


def _layer(conn_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """syncgate's guarantees on top of the hook's arguments."""
    keywords = _libpq_keywords()
    # The hook passes every extra it does not know into psycopg, where libpq rejects an unknown
    # one ("invalid connection option"): an Airflow UI field or a typo would break every task.
    unknown = tuple(sorted(k for k in args if k not in keywords and k not in _ROW_FACTORY_ARGS))
    if unknown:
        _warn_ignored(conn_id, unknown)
    given = {k: v for k, v in args.items() if k in keywords and v not in (None, "")}
    # Landed batches are UTF-8 Arrow strings: PostgreSQL converts a LATIN1 (or other) database's
    # text on the way out, whatever the extra says. The hook has no notion of this. A keyword
    # parameter also beats ``options='-c client_encoding=...'``: libpq sends it after the options.
    return {**_DEFAULTS, **given, "client_encoding": "UTF8"}


@functools.cache
def _args_only_hook_class() -> type[Any]:
    """A ``PostgresHook`` whose ``get_conn`` returns the psycopg arguments instead of connecting.

    Built once per process: importing the provider costs ~0.1 s, a hook instance next to nothing.
    The hook itself is made per call (it holds the Connection, which a secrets backend may rotate)
    and so is the IAM token (it expires after 15 minutes).
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from syncgate.redact import register_secret

    class ArgsOnlyPostgresHook(PostgresHook):  # type: ignore[misc]
        def _create_connection(self, conn_args: dict[str, Any]) -> Any:
            # get_conn's last step (provider 7.1.1, pinned in requirements.txt): everything
            # before it (IAM token, extras, options) is the hook's own logic, reused as is.
            return conn_args

        def get_iam_token(self, conn: Any) -> tuple[str, str, int]:
            login, token, port = super().get_iam_token(conn)
            # Airflow masks a connection's password in task logs, not a token minted from it.
            register_secret(token)
            return login, token, port

    return ArgsOnlyPostgresHook


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


@functools.cache
def _warn_ignored(conn_id: str, keys: tuple[str, ...]) -> None:
    """Warn once per process and connection: names the keys, never their values."""
    log.warning(
        "Connection %r: extra(s) %s are neither PostgresHook options nor libpq parameters; ignored",
        conn_id,
        ", ".join(keys),
    )
