"""Error text that is safe to store and show: never a data value (it may be PII) or a secret.

syncgate's own errors are written without values. A database error is not: PostgreSQL quotes
the failing row (``DETAIL: Failing row contains (...)``) or value (``invalid input syntax for
type integer: "..."``). Anything else may quote data too, so only its type travels; the task
log keeps the whole story for those allowed to read it.
"""

from __future__ import annotations

from syncgate.errors import SyncgateError
from syncgate.redact import redact

MAX_CHARS = 2000


def safe_error_text(error: BaseException | None) -> str:
    """A one-paragraph description of ``error`` fit for the audit row, reports, UI and alerts.

    Secrets are redacted (``syncgate.redact``): an API's error body may quote part of a token.
    """
    return redact(_describe(error)) or ""


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error (see the task log)"
    if isinstance(error, SyncgateError) or _wraps_syncgate_error(error):
        return f"{type(error).__name__}: {error}"[:MAX_CHARS]
    described = describe_database_error(error)
    if described:
        return described
    return f"{type(error).__name__} (details in the task log)"


def describe_database_error(error: BaseException) -> str | None:
    """SQLSTATE, condition and the objects involved of a psycopg error; None for other errors."""
    diag = getattr(error, "diag", None)
    state = getattr(diag, "sqlstate", None)
    if diag is None or state is None:
        return None
    parts = [f"{type(error).__name__} [SQLSTATE {state}]"]
    objects = [
        f"{label} {value}"
        for label, value in (
            ("table", _qualified(diag.schema_name, diag.table_name)),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
        )
        if value
    ]
    if objects:
        parts.append(f"on {', '.join(objects)}")
    return " ".join(parts) + " (the value is not shown; details in the task log)"


def _qualified(schema: str | None, table: str | None) -> str | None:
    return f"{schema}.{table}" if schema and table else table


def _wraps_syncgate_error(error: BaseException) -> bool:
    # Stages raise AirflowFailException(str(exc)) from a SyncgateError: its text is ours.
    return isinstance(error.__cause__, SyncgateError) and str(error) == str(error.__cause__)
