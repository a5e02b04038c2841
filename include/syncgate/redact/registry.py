"""The process's known secrets and the one ``redact`` function everything written goes through.

A stage registers its flow's connections before it runs (``register_flow``); the HTTP client
and the database connector register what they connect with (a minted IAM token included).
Every value is also handed whole to Airflow's own task-log masker (``mask_secret``), which masks
exact values only: runs of a secret inside other text are masked by syncgate before it logs or
raises them (``redact`` / ``redact_exception``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from syncgate.redact.headers import echoed_spans, is_credential_name
from syncgate.redact.mask import MIN_SECRET, SecretMask, forms, merge, replace_spans

log = logging.getLogger(__name__)

_AIRFLOW_MIN_LENGTH = 5
_lock = threading.Lock()
_mask = SecretMask()
_known: set[str] = set()
_connections: set[str] = set()


def redact(text: str | None) -> str | None:
    """``text`` without any 6+ character run of a known secret nor a credential header's value."""
    if not text:
        return text
    spans = echoed_spans(text)
    if _mask:
        spans += _mask.spans(text)
    return replace_spans(text, merge(spans))


def register_secret(value: Any) -> None:
    """Treat ``value`` (a string) as a secret from now on, here and in Airflow's task-log masker."""
    if not isinstance(value, str) or len(value) < MIN_SECRET:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        _mask.add(value)
    _tell_airflow(value)


def register_connection(conn_id: str) -> None:
    """Register the secrets of Airflow connection ``conn_id``: its password and the values of
    credential-named extras (at any depth, e.g. ``{"headers": {"X-Api-Key": ...}}``, a webhook's
    ``{"secrets": [...]}``). A connection that cannot be read registers nothing."""
    if conn_id in _connections:
        return
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:  # missing connection: the stage itself will say so
        return
    _connections.add(conn_id)
    for secret in connection_secrets(conn.password, _extra(conn)):
        register_secret(secret)


def register_flow(spec: Any) -> None:
    """Register the secrets of every connection a flow spec names (any ``*conn_id`` field)."""
    try:
        names = set(_conn_ids(spec.model_dump(mode="json")))
        names.add(spec.state_conn_id)
    except Exception:  # a spec shape we do not know: connections register when they are opened
        log.debug("Could not list the connections of a flow spec", exc_info=True)
        return
    for conn_id in sorted(n for n in names if isinstance(n, str) and n):
        register_connection(conn_id)


def connection_secrets(password: Any, extra: Any) -> list[str]:
    """The secret values of a connection: password plus credential-named extras."""
    found = [password] if isinstance(password, str) else []
    found += _credential_values(extra, under_credential=False)
    return [s for s in found if len(s) >= MIN_SECRET]


def redact_exception(error: BaseException) -> BaseException:
    """Redact the string arguments of ``error`` and of the errors it chains, in place.

    A traceback in the task log prints each chained error's message: all of them must be clean
    before the error is raised on.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        except Exception:  # an exception class with read-only args: its own text stays as is
            log.debug("Could not redact the arguments of %s", type(current).__name__)
        current = current.__cause__ or current.__context__
    return error


def _credential_values(value: Any, *, under_credential: bool) -> list[str]:
    if isinstance(value, str):
        return [value] if under_credential else []
    if isinstance(value, Mapping):
        return [
            s
            for k, v in value.items()
            for s in _credential_values(v, under_credential=under_credential or is_credential_name(str(k)))
        ]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _credential_values(v, under_credential=under_credential)]
    return []


def _conn_ids(value: Any, key: str = "") -> Iterable[Any]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _conn_ids(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _conn_ids(v, key)
    elif key.endswith("conn_id"):
        yield value


def _extra(conn: Any) -> Any:
    try:
        return conn.extra_dejson
    except Exception:  # extra that is not JSON: nothing to read there
        return {}


def _tell_airflow(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # outside Airflow (a unit test): syncgate's own masking still applies
        return
    # Airflow skips values under its ``min_length_masked_secret`` (5) with a warning: not sent.
    for form in (f for f in forms(value) if len(f) >= _AIRFLOW_MIN_LENGTH):
        try:
            mask_secret(form)
        except Exception:  # the task log masker is a second line: never fail a stage over it
            log.debug("Airflow's secrets masker refused a value")


def forget_all() -> None:
    """Forget every secret registered in this process (tests: generated secrets of one test
    must not mask another test's text). Airflow's own masker keeps what it was told."""
    global _mask
    with _lock:
        _mask = SecretMask()
        _known.clear()
        _connections.clear()
