"""A flow's `triggers` and `debounce`: valid shapes accepted, every mistake named by its field."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from syncgate.errors import SpecError
from syncgate.spec import triggers
from syncgate.spec.loader import load_spec
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec
from syncgate.spec.triggers import MAX_DEBOUNCE, PostgresNotifyTrigger, notify_connection

pytestmark = pytest.mark.unit

SOURCE = {
    "type": "postgres",
    "conn_id": "erp_db",
    "table": "public.orders",
    "primary_key": ["id"],
    "cursor": "updated_at",
}
TARGET = {"type": "postgres", "conn_id": "dst", "table": "public.orders"}


def flow(source: dict[str, Any] | None = None, **extra: Any) -> FlowSpec:
    return FlowSpec.model_validate({"id": "orders", "source": source or SOURCE, "target": TARGET, **extra})


def sync(**extra: Any) -> SyncSpec:
    return SyncSpec.model_validate(
        {
            "id": "people", "mode": "two_way",
            "sides": {
                "a": {"type": "postgres", "conn_id": "a_db", "table": "people", "primary_key": ["id"], "cursor": "ts"},
                "b": {"type": "http", "conn_id": "crm_api", "endpoint": "/v1/people", "primary_key": ["id"],
                      "cursor": "ts", "write": "merge"},
            },
            "state_conn_id": "a_db",
            **extra,
        }
    )  # fmt: skip


def problems(tmp_path: Path, **extra: Any) -> list[str]:
    """What the loader says about an orders flow with ``extra`` keys (as `airflow` shows it)."""
    path = tmp_path / "orders.yml"
    path.write_text(yaml.safe_dump({"id": "orders", "source": SOURCE, "target": TARGET, **extra}))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_no_triggers_by_default_and_a_two_second_debounce() -> None:
    spec = flow()
    assert spec.triggers == [] and spec.debounce == timedelta(seconds=2)


def test_webhook_and_notify_triggers_are_accepted() -> None:
    spec = flow(
        triggers=[
            {"type": "webhook", "secret_conn_id": "crm_webhook"},
            {"type": "postgres_notify", "channel": "erp_orders"},
        ],
        debounce="500ms",
    )
    assert [t.type for t in spec.triggers] == ["webhook", "postgres_notify"]
    assert spec.debounce == timedelta(milliseconds=500)
    assert notify_connection(spec, spec.triggers[1]) == "erp_db"  # the source's connection by default


def test_errors_name_the_field_of_the_trigger(tmp_path: Path) -> None:
    found = problems(tmp_path, triggers=[{"type": "postgres_notify", "channel": "erp-orders"}])
    assert len(found) == 1 and found[0].startswith(
        "triggers.0.channel: 'erp-orders' is not a PostgreSQL identifier"
    )
    found = problems(tmp_path, triggers=[{"type": "webhook"}])
    assert found == ["triggers.0.secret_conn_id: Field required"]
    found = problems(tmp_path, triggers=[{"type": "webhook", "secret_conn_id": "x", "secret": "whsec_abc"}])
    assert found == ["triggers.0.secret: unknown key"] and "whsec_abc" not in str(found)


def test_an_unknown_type_lists_the_valid_ones(tmp_path: Path) -> None:
    assert problems(tmp_path, triggers=[{"type": "kafka"}]) == [
        "triggers.0: unknown `type`; expected one of 'webhook', 'postgres_notify', 'wal'"
    ]


def test_a_second_trigger_of_a_type_is_refused(tmp_path: Path) -> None:
    two = [{"type": "postgres_notify", "channel": "a"}, {"type": "postgres_notify", "channel": "b"}]
    assert problems(tmp_path, triggers=two) == [
        "triggers.1: a second `postgres_notify` trigger (triggers.0); a flow has at most one of each type"
    ]


def test_wal_needs_a_source_capturing_by_wal(tmp_path: Path) -> None:
    assert problems(tmp_path, triggers=[{"type": "wal"}]) == [
        "triggers.0: a `wal` trigger needs a postgres source with `capture: wal` (it has 'cursor')"
    ]


def test_a_one_way_notify_on_a_non_postgres_source_needs_a_connection() -> None:
    http = {"type": "http", "conn_id": "crm_api", "endpoint": "/v1/orders", "primary_key": ["id"]}
    with pytest.raises(ValidationError, match=r"triggers\.0\.conn_id: required, the flow's source is http"):
        flow(source=http, triggers=[{"type": "postgres_notify", "channel": "c"}])
    spec = flow(source=http, triggers=[{"type": "postgres_notify", "channel": "c", "conn_id": "erp_db"}])
    assert notify_connection(spec, spec.triggers[0]) == "erp_db"
    with pytest.raises(ValidationError, match=r"triggers\.0\.side: only sync flows have sides"):
        flow(triggers=[{"type": "postgres_notify", "channel": "c", "side": "a"}])


def test_a_sync_notify_names_a_postgres_side_or_a_connection() -> None:
    spec = sync(triggers=[{"type": "postgres_notify", "channel": "people", "side": "a"}])
    assert notify_connection(spec, spec.triggers[0]) == "a_db"
    assert (
        notify_connection(
            sync(triggers=[{"type": "postgres_notify", "channel": "p", "conn_id": "other"}]),
            PostgresNotifyTrigger(type="postgres_notify", channel="p", conn_id="other"),
        )
        == "other"
    )
    for trigger, message in [
        ({"channel": "p"}, r"triggers\.0: give exactly one of `side` \(a postgres side\) or `conn_id`"),
        ({"channel": "p", "side": "a", "conn_id": "x"}, r"triggers\.0: give exactly one of"),
        ({"channel": "p", "side": "c"}, r"triggers\.0\.side: 'c' is not a side of the flow \(a, b\)"),
        ({"channel": "p", "side": "b"}, r"triggers\.0\.side: side 'b' is http, not postgres"),
    ]:
        with pytest.raises(ValidationError, match=message):
            sync(triggers=[{"type": "postgres_notify", **trigger}])
    with pytest.raises(ValidationError, match=r"triggers\.0\.side: required in a sync flow"):
        sync(triggers=[{"type": "wal"}])
    with pytest.raises(ValidationError, match=r"triggers\.0\.side: a `wal` trigger needs a postgres source"):
        sync(triggers=[{"type": "wal", "side": "a"}])
    assert sync(debounce=0).debounce == timedelta(0)


@given(st.integers(min_value=0, max_value=int(MAX_DEBOUNCE.total_seconds())))
def test_any_debounce_from_zero_to_the_bound_is_accepted_in_every_spelling(seconds: int) -> None:
    expected = timedelta(seconds=seconds)
    spellings: list[Any] = [seconds, f"{seconds}s", f"{seconds * 1000}ms"]
    if seconds and seconds % 60 == 0:
        spellings.append(f"{seconds // 60}m")
    for spelling in spellings:
        assert flow(debounce=spelling).debounce == expected, spelling


@given(st.integers(min_value=int(MAX_DEBOUNCE.total_seconds()) + 1, max_value=10**7))
def test_a_debounce_beyond_the_bound_is_refused(seconds: int) -> None:
    with pytest.raises(ValidationError, match=r"debounce\n.*at most 5m"):
        flow(debounce=f"{seconds}s")


@pytest.mark.parametrize("value", ["-1s", "soon", True, "2 parsecs", -3])
def test_a_debounce_that_is_not_a_duration_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="debounce"):
        flow(debounce=value)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@given(st.text(min_size=1, max_size=80))
def test_a_channel_is_accepted_exactly_when_it_is_a_plain_identifier(channel: str) -> None:
    valid = bool(_IDENTIFIER.match(channel)) and len(channel.encode()) <= 63
    try:
        spec = flow(triggers=[{"type": "postgres_notify", "channel": channel}])
    except ValidationError as exc:
        assert not valid, exc
        assert "channel" in str(exc)
    else:
        assert valid and spec.triggers[0].channel == channel


def test_a_wal_trigger_is_accepted_on_a_source_capturing_by_wal() -> None:
    source = {k: v for k, v in SOURCE.items() if k != "cursor"} | {"capture": "wal"}
    spec = flow(source=source, triggers=[{"type": "wal"}, {"type": "postgres_notify", "channel": "c"}])
    assert [t.type for t in spec.triggers] == ["wal", "postgres_notify"]


@pytest.mark.parametrize("value", [float("inf"), "9" * 30 + "ms", "9" * 30 + "s"])
def test_an_unrepresentable_debounce_is_a_validation_error(value: object) -> None:
    with pytest.raises(ValueError):
        triggers.parse_debounce(value)
