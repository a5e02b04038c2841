"""Standard Webhooks verification for the receiver: headers, timestamp window, signatures, secrets.

The HMAC itself is the ``standardwebhooks`` package's (HMAC-SHA256 over ``id.timestamp.body``,
compared with ``hmac.compare_digest``). This module adds what the package leaves loose, so that
a request is accepted only in its one canonical form:

- ``webhook-timestamp`` must be integer seconds without a leading zero: the package parses it
  with ``float()`` and signs the floored value, so ``1700000000.9``, ``01700000000`` or
  ``1_700_000_000`` would verify as ``1700000000``;
- ``webhook-signature`` entries must be ``<version>,<base64>``: the package's ``b64decode``
  silently drops characters outside the alphabet, and a malformed entry raises ``ValueError``;
- ``webhook-id`` is printable ASCII (no space), at most ``MAX_ID_CHARS``: it is a log key.

Secrets are the password of the flow's ``secret_conn_id`` connection plus, for rotation, the
connection extra's ``{"secrets": [...]}``. Every refusal carries a reason in syncgate's own
words: never the body, never which secret was (or was not) tried.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncgate.errors import FatalError, RetriableError

if TYPE_CHECKING:
    from standardwebhooks.webhooks import Webhook

log = logging.getLogger(__name__)

# The window the package enforces (fixed there); ours gives the refusal its reason.
TOLERANCE_SECONDS = 5 * 60
MAX_ID_CHARS = 255
MAX_SIGNATURES = 16  # a sender lists one signature per active secret: a handful at most
# Standard Webhooks asks for 24-64 random bytes; below 16 is a password, not a key.
MIN_SECRET_BYTES = 16
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")  # no leading zero: one spelling per instant
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_CHARS}}}")
_SIGNATURE = re.compile(r"[a-z0-9]{1,8},[A-Za-z0-9+/]+={0,2}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class WebhookRefused(FatalError):
    """The request is not an authentic, fresh Standard Webhooks message (the receiver's 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookSecretsUnavailable(RetriableError):
    """The flow's secret connection is missing or holds no usable secret (the receiver's 503)."""


def webhook_secret_conn_id(spec: Any) -> str | None:
    """The ``secret_conn_id`` of the flow's webhook trigger; None when it has no webhook trigger.

    Reads trigger models and plain mappings alike (``spec.triggers`` items with ``type``).
    """
    for trigger in getattr(spec, "triggers", None) or ():
        get = trigger.get if isinstance(trigger, Mapping) else lambda key, t=trigger: getattr(t, key, None)
        if get("type") == "webhook":
            conn_id = get("secret_conn_id")
            return str(conn_id) if conn_id else None
    return None


def parse_secrets(password: str | None, extra: Any) -> list[Webhook]:
    """One verifier per usable secret: ``password`` first, then ``extra["secrets"]``.

    A malformed secret is skipped (logged by position, never by value): rotation must not stop
    the other secrets from working.
    """
    from standardwebhooks.webhooks import Webhook

    listed = extra.get("secrets") if isinstance(extra, Mapping) else None
    candidates = [password, *(listed if isinstance(listed, list) else [])]
    verifiers = []
    for position, secret in enumerate(candidates):
        if secret in (None, ""):
            continue
        key = _secret_key(secret)
        if key is None:
            where = "the password" if position == 0 else f"extra secrets[{position - 1}]"
            log.warning(
                "Webhook secret at %s is not whsec_<base64> of at least %d bytes: ignored",
                where,
                MIN_SECRET_BYTES,
            )
            continue
        verifiers.append(Webhook(key))
    return verifiers


def load_secrets(conn_id: str) -> list[Webhook]:
    """The verifiers of Airflow connection ``conn_id`` (read on every call: rotation is immediate).

    Raises:
        WebhookSecretsUnavailable: the connection does not exist or holds no usable secret.
    """
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, a secrets backend's own errors
        raise WebhookSecretsUnavailable(
            f"webhook secret connection {conn_id!r} cannot be read ({type(exc).__name__})"
        ) from None
    try:
        extra = conn.extra_dejson
    except Exception:  # extra that is not JSON: the password alone may still do
        extra = {}
    verifiers = parse_secrets(conn.password, extra)
    if not verifiers:
        raise WebhookSecretsUnavailable(f"webhook secret connection {conn_id!r} holds no usable secret")
    return verifiers


def check_headers(headers: Mapping[str, str], *, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers, checked for form and freshness (no secret needed).

    The receiver calls this before it reads the body: a request without them costs nothing more.

    Raises:
        WebhookRefused: a header is missing or malformed, or the timestamp is outside the window.
    """
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() in HEADERS}
    webhook_id, timestamp, signature = (lowered.get(name, "") for name in HEADERS)
    if not (webhook_id and timestamp and signature):
        raise WebhookRefused("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not _ID.fullmatch(webhook_id):
        raise WebhookRefused(f"webhook-id is not 1-{MAX_ID_CHARS} printable ASCII characters")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookRefused("webhook-timestamp is not integer seconds since the epoch")
    skew = int(timestamp) - (time.time() if now is None else now)
    if skew < -TOLERANCE_SECONDS:
        raise WebhookRefused("webhook-timestamp is more than 5 minutes old")
    if skew > TOLERANCE_SECONDS:
        raise WebhookRefused("webhook-timestamp is more than 5 minutes in the future")
    entries = signature.split(" ")
    if len(entries) > MAX_SIGNATURES or not all(_SIGNATURE.fullmatch(e) for e in entries):
        raise WebhookRefused("webhook-signature is not space-separated <version>,<base64> entries")
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def verify(body: bytes, headers: Mapping[str, str], verifiers: Sequence[Webhook]) -> str:
    """The message's ``webhook-id`` when one of ``verifiers`` signed exactly this message.

    Raises:
        WebhookRefused: what :func:`check_headers` refuses, a body that is not UTF-8 (the
            package signs text), or no signature made with any of the secrets.
    """
    from standardwebhooks.webhooks import WebhookVerificationError

    canonical = check_headers(headers)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRefused("body is not UTF-8 text") from None
    for verifier in verifiers:
        try:
            verifier.verify(text, canonical, json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: base64 with bad padding
            continue
        return canonical["webhook-id"]
    raise WebhookRefused("no valid signature")


def _secret_key(secret: Any) -> bytes | None:
    if not isinstance(secret, str):
        return None
    encoded = secret.strip().removeprefix("whsec_")
    if not _BASE64.fullmatch(encoded):
        return None
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) >= MIN_SECRET_BYTES else None


@dataclass
class RefusalBudget:
    """How many refusals per flow are recorded (and logged) per minute; the rest are counted.

    An unauthenticated caller can send refusals as fast as it likes: each recorded one costs a
    state-database connection and a row. Past ``per_minute`` in a window nothing is written, and
    the next recorded refusal says how many were left out. Keys are flow ids that have a webhook
    trigger (never a caller-chosen string), so the map is bounded by the deployment's flows.
    """

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int, int]] = field(default_factory=dict)  # start, recorded, skipped
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, flow_id: str) -> int | None:
        """None when this refusal is not to be recorded, else how many were left out before it."""
        now = self.clock()
        with self._lock:
            start, recorded, skipped = self._windows.get(flow_id, (now, 0, 0))
            if now - start >= 60:
                start, recorded = now, 0
            if recorded >= self.per_minute:
                self._windows[flow_id] = (start, recorded, skipped + 1)
                return None
            self._windows[flow_id] = (start, recorded + 1, 0)
            return skipped
