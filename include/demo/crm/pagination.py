"""Opaque cursors and ``Link`` headers for the list endpoints."""

from __future__ import annotations

import base64
import json

from .store import Key


class InvalidCursorError(ValueError):
    """The cursor was not issued by this service."""


def encode_cursor(key: Key) -> str:
    """The last ``(updated_at, id)`` a page returned, as an opaque URL-safe token."""
    raw = json.dumps({"u": key[0], "i": key[1]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Key:
    """Inverse of ``encode_cursor``.

    Raises:
        InvalidCursorError: the token is malformed.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        updated_at, record_id = data["u"], data["i"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCursorError("cursor is not valid") from exc
    if not isinstance(updated_at, str) or not isinstance(record_id, int):
        raise InvalidCursorError("cursor is not valid")
    return (updated_at, record_id)


def link_header(next_url: str) -> str:
    """RFC 8288 ``Link`` value pointing at the next page."""
    return f'<{next_url}>; rel="next"'
