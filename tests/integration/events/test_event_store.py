"""The flow event log on a real state database: de-duplication, the wake-up NOTIFY, bounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from syncgate.events import store
from syncgate.state.schema import ensure_state_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def state(databases: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(databases["dst"]) as conn:
        ensure_state_schema(conn)
        yield conn


def test_a_webhook_id_is_accepted_once_per_flow_and_later_deliveries_are_duplicates(
    state: psycopg.Connection[Any],
) -> None:
    assert store.record_webhook(state, "orders", "msg_1") == "accepted"
    assert store.record_webhook(state, "orders", "msg_1") == "duplicate"
    # The same id sent to another flow is that flow's first delivery.
    assert store.record_webhook(state, "customers", "msg_1") == "accepted"
    assert store.unfired_webhooks(state, "orders")[0] == 1
    outcomes = [e["outcome"] for e in store.last_events(state, "orders")]
    assert outcomes == ["duplicate", "accepted"]


def test_an_accepted_webhook_wakes_a_listener_on_commit_and_a_duplicate_does_not(
    state: psycopg.Connection[Any], databases: dict[str, str]
) -> None:
    with psycopg.connect(databases["dst"], autocommit=True) as listener:
        listener.execute(f"LISTEN {store.EVENTS_CHANNEL}")
        store.record_webhook(state, "orders", "msg_1")
        store.record_webhook(state, "orders", "msg_1")
        received = [n.payload for n in listener.notifies(timeout=1.0)]
    assert received == ["orders"]


def test_firing_marks_the_webhooks_it_covered_and_not_later_ones(state: psycopg.Connection[Any]) -> None:
    for n in range(3):
        store.record_webhook(state, "orders", f"msg_{n}")
    count, upto = store.unfired_webhooks(state, "orders")
    assert count == 3
    store.record_webhook(state, "orders", "msg_late")
    store.record_fired(state, "orders", "webhook", count, webhooks_upto=upto)
    assert store.unfired_webhooks(state, "orders")[0] == 1
    fired = store.last_events(state, "orders")[0]
    assert (fired["outcome"], fired["events"], fired["trigger"]) == ("fired", 3, "webhook")


def test_refusals_are_bounded_per_flow_but_accepted_ids_are_kept(
    state: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEPT_PER_FLOW", 5)
    store.record_webhook(state, "orders", "msg_kept")
    for n in range(12):
        store.record_refused(state, "orders", "webhook", f"bad signature {n}")
    store.record_refused(state, "customers", "webhook", "bad signature")
    events = store.last_events(state, "orders", limit=100)
    refused = [e["reason"] for e in events if e["outcome"] == "refused"]
    assert refused == [f"bad signature {n}" for n in range(11, 6, -1)]
    assert [e["event_id"] for e in events if e["outcome"] == "accepted"] == ["msg_kept"]
    assert store.record_webhook(state, "orders", "msg_kept") == "duplicate"
    assert len(store.last_events(state, "customers")) == 1


def test_a_refusal_reason_is_cut_to_a_bounded_length(state: psycopg.Connection[Any]) -> None:
    store.record_refused(state, "orders", "webhook", "x" * 10_000)
    assert len(store.last_events(state, "orders")[0]["reason"]) == store.MAX_REASON_CHARS


def test_fired_ids_older_than_the_dedupe_window_are_pruned_unfired_ones_kept(
    state: psycopg.Connection[Any],
) -> None:
    store.record_webhook(state, "orders", "msg_fired")
    store.record_fired(
        state, "orders", "webhook", 1, webhooks_upto=store.unfired_webhooks(state, "orders")[1]
    )
    store.record_webhook(state, "orders", "msg_unfired")  # its flow was paused: no trigger ran
    state.execute("UPDATE syncgate.flow_events SET received_at = now() - interval '8 days'")
    state.commit()
    store.record_webhook(state, "orders", "msg_new")
    ids = {e["event_id"] for e in store.last_events(state, "orders") if e["outcome"] == "accepted"}
    assert ids == {"msg_unfired", "msg_new"}
