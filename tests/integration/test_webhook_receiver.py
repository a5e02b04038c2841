"""The webhook receiver inside a real ``airflow api-server``, with messages signed by ``standardwebhooks``.

One server start (~20 s) serves every check; each check is its own function, called in order.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import airflow_api
import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook
from ui_seed import spec_yaml

from syncgate.events.store import EVENTS_CHANNEL

pytestmark = pytest.mark.integration

NEW_SECRET = "whsec_" + base64.b64encode(b"new-secret-32-bytes-long-padding").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"old-secret-32-bytes-long-padding").decode()
STRANGER = "whsec_" + base64.b64encode(b"not-our-secret-32-bytes-long-pad").decode()
MAX_BYTES = 64 * 1024
# Every body sent carries this: it must never reach the server's log nor the event log.
MARKER = "BODY-MARKER-" + uuid.uuid4().hex


@pytest.fixture
def receiver(
    databases: dict[str, str], airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    for flow_id, conn_id, triggers in (
        ("orders_hook", "dst_db", [{"type": "webhook", "secret_conn_id": "crm_webhook"}]),
        ("orders_plain", "dst_db", []),
        ("hook_gone", "gone_db", [{"type": "webhook", "secret_conn_id": "crm_webhook"}]),
        ("hook_nosecret", "dst_db", [{"type": "webhook", "secret_conn_id": "missing_conn"}]),
        ("orders_wal", "dst_db", [{"type": "wal"}]),
    ):
        spec = json.loads(spec_yaml(flow_id, ["events"], False, conn_id))
        if triggers:
            spec["triggers"] = triggers
        if flow_id == "orders_wal":  # a wal trigger needs log-based capture (no cursor)
            spec["source"].update(capture="wal")
            spec["source"].pop("cursor", None)
        (flows / f"{flow_id}.yml").write_text(json.dumps(spec))
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    monkeypatch.setenv("AIRFLOW_CONN_GONE_DB", "postgresql://syncgate@127.0.0.1:1/nowhere")
    # The current secret is the password; the one being rotated out stays in the extra.
    connection = {"conn_type": "generic", "password": NEW_SECRET, "extra": {"secrets": [OLD_SECRET]}}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_WEBHOOK", json.dumps(connection))
    monkeypatch.setenv("SYNCGATE_WEBHOOK_MAX_BYTES", str(MAX_BYTES))
    monkeypatch.setenv("SYNCGATE_WEBHOOK_REFUSALS_PER_MINUTE", "100")
    with airflow_api.api_server(tmp_path) as base:
        yield base


def sign(
    body: bytes, *, secret: str = NEW_SECRET, msg_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = datetime.fromtimestamp(int(time.time() if at is None else at), tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, stamp, body.decode()),
        "content-type": "application/json",
    }


def payload(note: str = "") -> bytes:
    return json.dumps({"type": "order.updated", "marker": MARKER, "note": note}).encode()


def test_webhook_receiver_in_a_real_api_server(
    receiver: str, databases: dict[str, str], tmp_path: Path
) -> None:
    with (
        httpx.Client(base_url=receiver, timeout=30) as client,
        psycopg.connect(databases["dst"], autocommit=True) as state,
    ):
        _a_valid_message_is_accepted_once_and_wakes_the_trigger(client, databases["dst"], state)
        _forged_stale_or_incomplete_messages_get_401(client, state)
        _rotated_secrets_both_work_and_the_reply_does_not_say_which(client, state)
        _unknown_flows_and_flows_without_a_webhook_trigger_look_the_same(client)
        _oversize_bodies_get_413_with_and_without_content_length(client)
        _an_unreachable_state_database_or_secret_connection_asks_the_sender_to_retry(client)
        _the_flow_page_shows_triggers_and_events(client)
        refusals = _events(state, "refused")
    assert {r["reason"] for r in refusals} >= {
        "no valid signature",
        "webhook-timestamp is more than 5 minutes old",
        "webhook-timestamp is more than 5 minutes in the future",
        "missing webhook-id, webhook-timestamp or webhook-signature header",
        f"body larger than {MAX_BYTES} bytes",
    }
    log = (tmp_path / "api-server.log").read_text()
    assert "method=POST path=/syncgate/webhooks/orders_hook" in log  # the right log, and it was written
    for secret_text in (MARKER, NEW_SECRET, OLD_SECRET, NEW_SECRET.removeprefix("whsec_")):
        assert secret_text not in log
    with psycopg.connect(databases["dst"]) as conn:
        stored = conn.execute(
            "SELECT string_agg(coalesce(reason, '') || coalesce(event_id, ''), ' ') FROM syncgate.flow_events"
        ).fetchone()
    assert stored and MARKER not in (stored[0] or "")


def _events(
    state: psycopg.Connection[Any], outcome: str, flow_id: str = "orders_hook"
) -> list[dict[str, Any]]:
    with state.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT * FROM syncgate.flow_events WHERE flow_id = %s AND outcome = %s ORDER BY id",
            (flow_id, outcome),
        ).fetchall()


def _a_valid_message_is_accepted_once_and_wakes_the_trigger(
    client: httpx.Client, dst: str, state: psycopg.Connection[Any]
) -> None:
    body = payload("first")
    headers = sign(body, msg_id="msg_first")
    with psycopg.connect(dst, autocommit=True) as listener:
        listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        # No Airflow credentials at all (and a stale session cookie is no obstacle either).
        reply = client.post(
            "/syncgate/webhooks/orders_hook", content=body, headers=headers, cookies={"_token": "stale"}
        )
        assert (reply.status_code, reply.json()) == (200, {"status": "accepted"}), reply.text
        woken = [n.payload for n in listener.notifies(timeout=10, stop_after=1)]
    assert woken == ["orders_hook"]
    accepted = _events(state, "accepted")
    assert [e["event_id"] for e in accepted] == ["msg_first"]

    # The sender retries (its timeout, our slow reply): same id, fresh timestamp and signature.
    again = client.post(
        "/syncgate/webhooks/orders_hook", content=body, headers=sign(body, msg_id="msg_first")
    )
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(_events(state, "accepted")) == 1
    assert [e["event_id"] for e in _events(state, "duplicate")] == ["msg_first"]


def _forged_stale_or_incomplete_messages_get_401(
    client: httpx.Client, state: psycopg.Connection[Any]
) -> None:
    url = "/syncgate/webhooks/orders_hook"
    body = payload("forged")
    headers = sign(body)
    tampered = client.post(url, content=body.replace(b"forged", b"f0rged"), headers=headers)
    assert (tampered.status_code, tampered.json()) == (401, {"detail": "no valid signature"})
    stranger = client.post(url, content=body, headers=sign(body, secret=STRANGER))
    assert (stranger.status_code, stranger.json()) == (401, {"detail": "no valid signature"})
    old = client.post(url, content=body, headers=sign(body, at=time.time() - 6 * 60))
    assert old.status_code == 401 and "5 minutes old" in old.json()["detail"]
    future = client.post(url, content=body, headers=sign(body, at=time.time() + 6 * 60))
    assert future.status_code == 401 and "in the future" in future.json()["detail"]
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in sign(body).items() if k != missing}
        reply = client.post(url, content=body, headers=partial)
        assert reply.status_code == 401 and reply.json()["detail"].startswith("missing"), missing
    assert client.post(url, content=body).status_code == 401
    assert len(_events(state, "accepted")) == 1  # nothing forged got in


def _rotated_secrets_both_work_and_the_reply_does_not_say_which(
    client: httpx.Client, state: psycopg.Connection[Any]
) -> None:
    replies = []
    for secret in (OLD_SECRET, NEW_SECRET):
        body = payload("rotation")
        reply = client.post("/syncgate/webhooks/orders_hook", content=body, headers=sign(body, secret=secret))
        replies.append(reply)
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[0].content == replies[1].content == b'{"status":"accepted"}'
    same_headers = {k: v for k, v in replies[0].headers.items() if k != "date"}
    assert same_headers == {k: v for k, v in replies[1].headers.items() if k != "date"}
    assert len(_events(state, "accepted")) == 3


def _unknown_flows_and_flows_without_a_webhook_trigger_look_the_same(client: httpx.Client) -> None:
    body = payload("who")
    unknown = client.post("/syncgate/webhooks/no_such_flow", content=body, headers=sign(body))
    plain = client.post("/syncgate/webhooks/orders_plain", content=body, headers=sign(body))
    assert unknown.status_code == plain.status_code == 404
    assert unknown.content == plain.content
    assert "orders" not in unknown.text


def _oversize_bodies_get_413_with_and_without_content_length(client: httpx.Client) -> None:
    url = "/syncgate/webhooks/orders_hook"
    big = payload("x" * MAX_BYTES)
    declared = client.post(url, content=big, headers=sign(big))
    assert declared.status_code == 413, declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    chunked = client.post(url, content=chunks(), headers=sign(big))
    assert chunked.status_code == 413, chunked.text
    assert chunked.json() == {"detail": f"body larger than {MAX_BYTES} bytes"}
    # Just under the limit is fine, chunked too.
    fits = payload("y" * (MAX_BYTES - 200))
    assert len(fits) <= MAX_BYTES
    assert client.post(url, content=iter([fits]), headers=sign(fits)).status_code == 200


def _an_unreachable_state_database_or_secret_connection_asks_the_sender_to_retry(
    client: httpx.Client,
) -> None:
    body = payload("later")
    gone = client.post("/syncgate/webhooks/hook_gone", content=body, headers=sign(body))
    assert gone.status_code == 503 and "again later" in gone.json()["detail"]
    no_secret = client.post("/syncgate/webhooks/hook_nosecret", content=body, headers=sign(body))
    assert no_secret.status_code == 503 and "missing_conn" not in no_secret.text


def _the_flow_page_shows_triggers_and_events(client: httpx.Client) -> None:
    token = client.post("/auth/token", json={"username": "admin", "password": airflow_api.PASSWORD}).json()
    page = client.get(
        "/syncgate/flows/orders_hook", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert page.status_code == 200
    assert 'id="trigger-list"' in page.text and "secret connection crm_webhook" in page.text
    assert "POST /syncgate/webhooks/orders_hook" in page.text
    assert NEW_SECRET not in page.text and OLD_SECRET not in page.text and MARKER not in page.text
    assert "msg_first" in page.text and 'data-outcome="duplicate"' in page.text
    assert 'data-outcome="refused"' in page.text and "no valid signature" in page.text
    plain = client.get(
        "/syncgate/flows/orders_plain", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert 'id="triggers-none"' in plain.text and 'id="slot-status"' not in plain.text
    wal = client.get(
        "/syncgate/flows/orders_wal", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert wal.status_code == 200 and 'data-trigger="wal"' in wal.text
    assert 'id="slot-status"' in wal.text and 'id="events-none"' in wal.text
    # Read from the source: no slot was set up for it yet, and the page says how to make one.
    assert "python -m syncgate cdc setup orders_wal" in wal.text
    # A wal flow has no receiver: a signed message to it is a 404 like any other.
    body = payload("wal")
    assert client.post("/syncgate/webhooks/orders_wal", content=body, headers=sign(body)).status_code == 404
