"""The process registry: connection secrets found wherever they sit, errors redacted in place."""

from __future__ import annotations

import json

import pytest

from syncgate.redact.registry import (
    connection_secrets,
    redact,
    redact_exception,
    register_connection,
    register_flow,
)

pytestmark = pytest.mark.unit


def test_connection_secrets_are_the_password_and_credential_named_extras() -> None:
    extra = {
        "headers": {"X-Api-Key": "key-in-headers-1", "Accept": "application/json"},
        "X-Vendor-Token": "top-level-token",
        "secrets": ["whsec_rotated_one", "whsec_rotated_two"],
        "timeout": "30",
        "nested": {"client": {"client_secret": "deep-secret"}},
    }
    assert sorted(connection_secrets("pass-word", extra)) == sorted(
        [
            "pass-word",
            "key-in-headers-1",
            "top-level-token",
            "whsec_rotated_one",
            "whsec_rotated_two",
            "deep-secret",
        ]
    )


def test_a_flows_connections_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncgate.spec.model import FlowSpec

    monkeypatch.setenv(
        "AIRFLOW_CONN_REDACT_API",
        json.dumps(
            {"conn_type": "http", "host": "h", "extra": {"headers": {"X-Api-Key": "Zq9-api-key-value"}}}
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_REDACT_DB", "postgresql://u:Pg-pass-Zq9x@h/db")
    spec = FlowSpec.model_validate(
        {
            "id": "redact_flow",
            "source": {"type": "http", "conn_id": "redact_api", "endpoint": "/x", "primary_key": ["id"]},
            "target": {"type": "postgres", "conn_id": "redact_db", "table": "a.b"},
        }
    )
    register_flow(spec)
    assert redact("echo Zq9-api-ke and x-pass-Zq9x") == "echo *** and x***"


def test_an_unknown_connection_registers_nothing() -> None:
    register_connection("no_such_connection_redact")
    assert redact("no_such_connection_redact") == "no_such_connection_redact"


def test_errors_are_redacted_along_their_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncgate.redact.registry import register_secret

    register_secret("chain-secret-123456")
    try:
        try:
            raise ValueError("inner quotes chain-secret-12")
        except ValueError as inner:
            raise RuntimeError("outer quotes t-123456") from inner
    except RuntimeError as outer:
        redact_exception(outer)
        assert str(outer) == "outer quotes ***"
        assert str(outer.__cause__) == "inner quotes ***"
