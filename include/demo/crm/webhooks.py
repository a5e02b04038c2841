"""Signed change notifications from the demo CRM (Standard Webhooks), the way SaaS CRMs send them.

A write marks its resource as changed; one sender thread posts at most one notification per
resource per ``COALESCE_SECONDS`` (a burst of writes is one message), signed with the
``standardwebhooks`` package. A failed delivery is retried with the same ``webhook-id`` (so
the receiver can de-duplicate it) and backoff, and given up after ``MAX_ATTEMPTS``: the flow's
schedule is the safety net for what a lost notification would have announced.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime

log = logging.getLogger("demo.crm.webhooks")

COALESCE_SECONDS = 0.1
MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 5.0


class WebhookSender:
    """Posts ``{"type": "<resource>.changed", "changed": n}`` to ``url`` after writes."""

    def __init__(self, url: str, secret: str) -> None:
        from standardwebhooks import Webhook

        self.url = url
        self.signer = Webhook(secret)
        self.pending: Counter[str] = Counter()
        self.wake = threading.Condition()
        self.sent = 0
        self.failed = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="crm-webhooks", daemon=True)
        self.thread.start()

    def changed(self, resource: str, count: int = 1) -> None:
        """Note ``count`` changed records of ``resource``; returns at once."""
        if count <= 0:
            return
        with self.wake:
            self.pending[resource] += count
            self.wake.notify()

    def stop(self) -> None:
        with self.wake:
            self.stopped = True
            self.wake.notify()
        self.thread.join(timeout=TIMEOUT_SECONDS)

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.pending and not self.stopped:
                    self.wake.wait()
                if self.stopped:
                    return
            # Let the rest of a burst arrive, then send one message per resource.
            threading.Event().wait(COALESCE_SECONDS)
            with self.wake:
                batch, self.pending = self.pending, Counter()
            for resource, count in sorted(batch.items()):
                self._deliver({"type": f"{resource}.changed", "changed": count})

    def _deliver(self, payload: dict[str, object]) -> None:
        body = json.dumps(payload)
        message_id = f"msg_{uuid.uuid4().hex}"
        for attempt in range(MAX_ATTEMPTS):
            now = datetime.now(UTC)
            request = urllib.request.Request(
                self.url,
                data=body.encode(),
                method="POST",
                headers={
                    "content-type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": self.signer.sign(message_id, now, body),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
                    self.sent += 1
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    log.warning("webhook %s refused with HTTP %d: not retried", message_id, exc.code)
                    break
                reason = f"HTTP {exc.code}"
            except OSError as exc:
                reason = type(exc).__name__
            delay = min(2.0**attempt, 30.0)
            log.info("webhook %s not delivered (%s); retry in %.0f s", message_id, reason, delay)
            threading.Event().wait(delay)
        self.failed += 1
