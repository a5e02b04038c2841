"""Customer write validation: 422 errors name the field, never echo the value (it may be PII)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from .records import STATUSES, Record

# Fields a client may write; id only on create, timestamps are the server's.
WRITABLE = ("name", "email", "status", "tier", "lifetime_value", "address", "tags")
READ_ONLY = ("created_at", "updated_at")
DEFAULTS: dict[str, Any] = {
    "email": None,
    "status": "active",
    "tier": None,
    "lifetime_value": None,
    "address": None,
    "tags": [],
}


class ValidationError(ValueError):
    """A rejected write: ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_body(body: Any, path_id: int | None = None) -> Record:
    """The writable part of a request body; unknown keys are rejected rather than dropped.

    ``id`` may be sent (a client pushing whole records does); on an update it must match the path.
    """
    if not isinstance(body, dict):
        raise ValidationError("body", "body must be a JSON object")
    allowed = {*WRITABLE, *READ_ONLY, "id"}
    for key in body:
        if key not in allowed:
            raise ValidationError(str(key), "unknown field")
    record_id = body.get("id")
    if record_id is not None:
        if not _is_int(record_id):
            raise ValidationError("id", "id must be an integer")
        if path_id is not None and record_id != path_id:
            raise ValidationError("id", "id does not match the record being updated")
    return {k: v for k, v in body.items() if k in WRITABLE}


def validate_customer(record: Record) -> Record:
    """A complete customer's writable fields, normalised (lifetime_value as a decimal string)."""
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "name must be a non-empty string")
    email = record.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise ValidationError("email", "email must contain '@'")
    if record.get("status") not in STATUSES:
        raise ValidationError("status", f"status must be one of {', '.join(STATUSES)}")
    tier = record.get("tier")
    if tier is not None and not _is_int(tier):
        raise ValidationError("tier", "tier must be an integer or null")
    out = dict(record)
    out["lifetime_value"] = _decimal(record.get("lifetime_value"))
    out["address"] = _address(record.get("address"))
    tags = record.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationError("tags", "tags must be a list of strings")
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decimal(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError("lifetime_value", "lifetime_value must be a decimal string or null")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError("lifetime_value", "lifetime_value must be a decimal string or null") from None
    if not number.is_finite():
        raise ValidationError("lifetime_value", "lifetime_value must be finite")
    # Kept as sent (a float as its shortest repr): rounding here would change the client's data.
    return value.strip() if isinstance(value, str) else str(number)


def _address(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"city", "country"}:
        raise ValidationError("address", "address must be an object with city and country")
    city, country = value.get("city"), value.get("country")
    if city is not None and not isinstance(city, str):
        raise ValidationError("address.city", "address.city must be a string or null")
    if not isinstance(country, str) or len(country) != 2:
        raise ValidationError("address.country", "address.country must be an ISO-2 code")
    return {"city": city, "country": country}
