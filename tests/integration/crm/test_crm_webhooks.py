"""The demo CRM's change notifications, received by a real loopback server and verified with
the ``standardwebhooks`` package: a burst is one message, a failed delivery is retried with
the same ``webhook-id``, a refused one is not retried."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from demo.crm import webhooks
from demo.crm.state import CrmState
from demo.crm.webhooks import WebhookSender

pytestmark = pytest.mark.integration

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """Answers each POST with the next status of ``statuses`` (then 204); keeps what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.messages: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                payload = Webhook(SECRET).verify(body, dict(self.headers.items()))
                receiver.messages.append((self.headers["webhook-id"], payload))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    real_wait = threading.Event.wait
    monkeypatch.setattr(threading.Event, "wait", lambda self, t=None: real_wait(self, min(t or 0, 0.05)))


def _sender(receiver: Receiver) -> Iterator[tuple[CrmState, WebhookSender]]:
    state = CrmState(customers=50, contacts=10, seed=1)
    sender = WebhookSender(receiver.url, SECRET)
    state.on_change = sender.changed
    yield state, sender
    sender.stop()
    receiver.server.shutdown()


def test_a_burst_of_writes_is_one_signed_message_counting_them() -> None:
    receiver = Receiver([])
    for state, sender in _sender(receiver):
        state.touch("customers", ids=[1, 2, 3], count=None)
        state.write("update", 4, {"tier": 2})
        receiver.wait_for(1)
        time.sleep(3 * webhooks.COALESCE_SECONDS)
        assert [payload for _, payload in receiver.messages] == [{"type": "customers.changed", "changed": 4}]
        assert sender.sent == 1


def test_a_failed_delivery_is_retried_with_the_same_id(fast_retries: None) -> None:
    receiver = Receiver([503, 503])
    for state, sender in _sender(receiver):
        state.touch("contacts", ids=[1], count=None)
        receiver.wait_for(3)
        ids = [message_id for message_id, _ in receiver.messages]
        assert len(ids) == 3 and len(set(ids)) == 1
        assert (sender.sent, sender.failed) == (1, 0)


def test_a_refused_delivery_is_not_retried(fast_retries: None) -> None:
    receiver = Receiver([401])
    for state, sender in _sender(receiver):
        state.touch("customers", ids=[1], count=None)
        receiver.wait_for(1)
        time.sleep(0.3)
        assert len(receiver.messages) == 1
        assert (sender.sent, sender.failed) == (0, 1)


def test_a_write_that_is_refused_sends_nothing() -> None:
    receiver = Receiver([])
    for state, _ in _sender(receiver):
        outcome, _ = state.write("update", 10**9, {"tier": 2})
        assert outcome.status == 404
        time.sleep(3 * webhooks.COALESCE_SECONDS)
        assert receiver.messages == []
