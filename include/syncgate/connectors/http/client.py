"""A small JSON-over-HTTP client built from an Airflow HTTP connection.

``ApiClient(conn_id)`` takes the base URL (host / schema / port), authentication and default
headers from the connection through the HTTP provider's ``HttpHook``:

- ``login`` + ``password``: HTTP basic auth (the hook's default);
- ``password`` without ``login``: ``Authorization: Bearer <password>``;
- ``extra``: ``{"headers": {...}}`` and/or top-level header names (the hook's convention);
  the hook's session options too: ``verify`` (the path of the CA bundle, a PEM file, that the
  server's certificate must chain to; default: the system's CAs), ``cert`` (a client
  certificate), ``proxies``, ``trust_env``, ``max_redirects``.

The connection's ``verify`` is passed with every request, as the hook's own ``run`` does: without
it, ``requests`` would let ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace it. A certificate
the client refuses (unknown CA, another host name, expired) fails at once with ``HttpTlsError``:
a retry cannot fix it.

Every call asks for gzip and counts the bytes on the wire and after decoding. Transient failures
(429, 408, 5xx, dropped connections, truncated bodies) are retried with exponential backoff and
full jitter, honouring ``Retry-After``; other 4xx fail fast. Errors name the method, status and
URL with credentials and secret-looking query values masked, the connection id (which
connection to fix), and a short body excerpt redacted by ``syncgate.redact``: no run of 6+
characters of a secret, nor any credential header's value, reaches a log or an audit row.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from syncgate.connectors.http.retry import RetryPolicy, TokenBucket, is_retriable_status, parse_retry_after
from syncgate.errors import FatalError, RetriableError
from syncgate.redact import redact, register_connection, register_secret
from syncgate.redact.headers import is_credential_name

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

EXCERPT_CHARS = 300
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "apikey"})
_SECRET_PARAM = re.compile(
    r"(token|key|secret|passw|pwd|auth|signature|^sig$|session|credential|^code$)", re.IGNORECASE
)


@dataclass(frozen=True)
class Response:
    """A decoded JSON response and what it cost on the wire."""

    status: int
    body: Any
    headers: Mapping[str, str]
    url: str  # redacted: safe to log
    bytes_wire: int
    bytes_decoded: int


@dataclass(frozen=True)
class _Failure:
    reason: str
    status: int | None = None
    retry_after: float | None = None
    retriable: bool = True


class HttpStatusError(FatalError):
    """The API refused the request with a status a retry cannot fix (4xx other than 408/425/429)."""

    def __init__(self, message: str, status: int, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class HttpRetriableError(RetriableError):
    """Transient failures persisted through every attempt; a later task retry may succeed."""

    def __init__(self, message: str, status: int | None, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class HttpTlsError(FatalError):
    """The API's TLS certificate was refused, or the CA bundle the connection names cannot be read."""


class ApiClient:
    """JSON requests against the API behind an Airflow HTTP connection.

    Args:
        conn_id: the Airflow connection (type http) naming base URL and credentials.
        max_requests_per_second: client-side token bucket; None = unlimited.
        timeout: seconds to connect and between bytes read.
        retry: attempts and backoff for transient failures.
        sleep: injectable for tests.
    """

    def __init__(
        self,
        conn_id: str,
        *,
        max_requests_per_second: float | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn_id = conn_id
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._bucket = TokenBucket(max_requests_per_second, sleep=sleep) if max_requests_per_second else None
        self._session: requests.Session | None = None
        self._base_url = ""
        self._secrets: list[str] = []
        self.requests_sent = 0
        self.retries = 0

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> requests.Session:
        if self._session is not None:
            return self._session
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="GET", http_conn_id=self.conn_id)
        session = hook.get_conn()
        conn = hook.get_connection(self.conn_id)
        extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
        nested = extra.get("headers")
        session.headers.pop("headers", None)  # the hook copies every extra key as a header
        if isinstance(nested, dict):
            session.headers.update({str(k): str(v) for k, v in nested.items()})
        for name in [k for k, v in session.headers.items() if not isinstance(v, (str, bytes))]:
            del session.headers[name]
        if conn.password and not conn.login:
            session.auth = None
            session.headers["Authorization"] = f"Bearer {conn.password}"
        session.headers["Accept-Encoding"] = "gzip"
        session.headers.setdefault("Accept", "application/json")
        # Every credential this session sends is a known secret from now on: whatever the API
        # echoes of it (a prefix in an error body, a header quoted in a hint) is redacted.
        register_connection(self.conn_id)
        for name, value in session.headers.items():
            if isinstance(value, str) and is_credential_name(name):
                scheme, _, token = value.partition(" ")
                # ``Bearer <token>``: the token is the secret, the scheme word is not
                register_secret(token if scheme.lower() in _AUTH_SCHEMES and token else value)
        if conn.password:
            register_secret(conn.password)
        self._secrets = [s for s in (conn.login,) if s and len(s) >= 4]
        self._base_url = hook.base_url.rstrip("/") + "/"
        if isinstance(session.verify, str) and not os.path.exists(session.verify):
            # requests would raise a bare OSError on the first request, outside its own errors.
            raise HttpTlsError(
                f"connection {self.conn_id!r}: its extra 'verify' names {session.verify!r}, which does "
                "not exist here (it must be the path of a CA bundle, a PEM file, on every worker)"
            )
        self._session = session
        return session

    @property
    def base_url(self) -> str:
        self._connect()
        return self._base_url

    def url(self, endpoint: str) -> str:
        """Absolute URL of ``endpoint`` (a path under the base URL, or already absolute)."""
        if "://" not in endpoint:
            return urljoin(self.base_url, endpoint.lstrip("/"))
        # An absolute URL (e.g. a `Link: rel="next"` header) gets the connection's credentials
        # only on the connection's own origin: never send the token to another host.
        if _origin(endpoint) != _origin(self.base_url):
            raise FatalError(
                f"refusing to follow {self.redact_url(endpoint)}: it is not on the connection's origin "
                f"{_origin(self.base_url)} and would receive its credentials"
            )
        return endpoint

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def get_json(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Response:
        """GET ``endpoint`` (path or absolute URL) and decode its JSON body."""
        return self.request("GET", endpoint, params=params)

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: Collection[int] = (),
    ) -> Response:
        """Send one request, retrying transient failures; returns the decoded response.

        A 2xx, or a status listed in ``ok_statuses`` (e.g. 404 for an idempotent DELETE), is
        returned; other 4xx raise ``HttpStatusError`` at once. Retried writes should carry an
        ``Idempotency-Key`` header, since a dropped connection may hide an applied write.
        """
        session = self._connect()
        url = self.url(endpoint)
        shown = self.redact_url(url, params)
        attempt = 0
        while True:
            attempt += 1
            if self._bucket is not None:
                self._bucket.acquire()
            self.requests_sent += 1
            outcome = self._attempt(session, method, url, params, json, headers, ok_statuses)
            if isinstance(outcome, Response):
                return outcome
            if not outcome.retriable:
                raise HttpStatusError(
                    f"{method} {shown} (connection {self.conn_id!r}) failed with HTTP {outcome.status}: "
                    f"{outcome.reason}",
                    int(outcome.status or 0),
                    shown,
                )
            if attempt >= self.retry.max_attempts:
                raise HttpRetriableError(
                    f"{method} {shown} (connection {self.conn_id!r}): gave up after {attempt} attempt(s): "
                    f"{outcome.reason}",
                    outcome.status,
                    shown,
                )
            delay = self.retry.delay(attempt, outcome.retry_after)
            self.retries += 1
            log.warning(
                "%s %s: %s; retry %d of %d in %.2fs",
                method, shown, outcome.reason, attempt, self.retry.max_attempts - 1, delay,
            )  # fmt: skip
            self._sleep(delay)

    def _attempt(
        self,
        session: requests.Session,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        ok_statuses: Collection[int],
    ) -> Response | _Failure:
        """One try: the accepted response, or why it failed."""
        import requests
        import urllib3

        try:
            resp = session.request(
                method, url, params=params, json=json, headers=headers, stream=True, timeout=self.timeout,
                verify=session.verify,  # the connection's CA bundle, not REQUESTS_CA_BUNDLE's
            )  # fmt: skip
        except requests.exceptions.SSLError as exc:
            refused = _certificate_refusal(exc)
            if refused is None:  # a handshake cut short: transient, like any dropped connection
                return _Failure(f"connection failed ({type(exc).__name__})")
            # requests' own message quotes the URL with its query: only the redacted URL is shown.
            raise HttpTlsError(
                f"{method} {self.redact_url(url, params)} (connection {self.conn_id!r}): the server's TLS "
                f"certificate was refused: {refused}. The certificate must be for the connection's host "
                "and chain to a trusted CA: the system's, or the CA bundle (PEM file) named by the "
                "connection's extra 'verify'"
            ) from None
        except requests.RequestException as exc:
            return _Failure(f"connection failed ({type(exc).__name__})")
        status = resp.status_code
        try:
            data = b"".join(resp.raw.stream(64 * 1024, decode_content=True))
            wire = int(resp.raw.tell())
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return _Failure(f"HTTP {status}: reading the body failed ({type(exc).__name__})", status)
        finally:
            resp.close()
        if not (200 <= status < 300 or status in ok_statuses):
            if is_retriable_status(status):
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                return _Failure(f"HTTP {status}: {self.excerpt(data)}", status, retry_after)
            return _Failure(self.excerpt(data), status, retriable=False)
        try:
            body = decode_json(data) if data.strip() else None
        except ValueError:
            # A body cut mid-JSON (a reset proxy, a truncated transfer) is transient.
            return _Failure(f"HTTP {status}: the body is not complete JSON ({len(data)} bytes)", status)
        return Response(status, body, dict(resp.headers), self.redact_url(url, params), wire, len(data))

    # -- redaction --------------------------------------------------------------------------

    def excerpt(self, data: bytes) -> str:
        """The start of a body, without this connection's secrets."""
        text = data[:EXCERPT_CHARS].decode("utf-8", errors="replace")
        return self.scrub(text) + ("..." if len(data) > EXCERPT_CHARS else "")

    def scrub(self, text: str) -> str:
        """``text`` without this connection's login nor any run of 6+ characters of a known secret."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(text) or ""

    def redact_url(self, url: str, params: Mapping[str, Any] | None = None) -> str:
        """The URL with user info dropped and secret-looking query values masked."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [(str(k), str(v)) for k, v in (params or {}).items() if v is not None]
        masked = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in query]
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return self.scrub(urlunsplit((parts.scheme, netloc, parts.path, urlencode(masked, safe="*:,"), "")))


def decode_json(data: bytes) -> Any:
    """``json.loads(data)``, by msgspec's faster decoder when it can tell the same answer.

    msgspec (an Airflow dependency) refuses what it cannot decode the way ``json`` does (NaN,
    numbers out of float range, lone surrogates, a BOM or UTF-16): those bodies go to ``json``.
    """
    import msgspec

    try:
        return _msgspec_decoder().decode(data)
    except msgspec.DecodeError:
        return jsonlib.loads(data)


@functools.cache
def _msgspec_decoder() -> Any:
    import msgspec

    return msgspec.json.Decoder()


def _certificate_refusal(exc: BaseException) -> str | None:
    """Why the TLS certificate was refused, if ``exc`` wraps a certificate verification failure.

    requests wraps urllib3's error, which wraps ``ssl``'s: search the arguments and the chain.
    """
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        found = pending.pop()
        if not isinstance(found, BaseException) or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, ssl.SSLCertVerificationError):
            return str(found.verify_message or found.reason or "certificate verify failed")
        pending += [*found.args, getattr(found, "reason", None), found.__cause__, found.__context__]
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default
