"""Deliver alert messages through Airflow connections: an HTTP webhook and SMTP e-mail.

The webhook's URL (it often embeds a token, as Slack's do) lives in the HTTP connection's host,
the SMTP credentials in the SMTP connection: neither is ever logged or put in an error, so a
failed delivery is reported by connection id and error type only.
"""

from __future__ import annotations

import logging

from syncgate.observe.messages import Message
from syncgate.spec.alerts import EmailNotifier, Notifier, WebhookNotifier

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


def deliver(notifiers: list[Notifier], message: Message) -> list[str]:
    """Send ``message`` through every notifier; returns one line per notifier that failed."""
    failed = []
    for notifier in notifiers:
        try:
            if isinstance(notifier, WebhookNotifier):
                _webhook(notifier, message)
            else:
                _email(notifier, message)
        except Exception as exc:  # one broken channel must not silence the others
            failed.append(f"{notifier.type} via {notifier.conn_id!r}: {type(exc).__name__}")
            log.error(
                "Alert delivery failed: %s via %r: %s", notifier.type, notifier.conn_id, type(exc).__name__
            )
    return failed


def _webhook(notifier: WebhookNotifier, message: Message) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=notifier.conn_id)
    hook.run(
        endpoint=None,
        json=message.webhook_body(),
        headers={"Content-Type": "application/json"},
        extra_options={"timeout": TIMEOUT_SECONDS, "check_response": True},
    )


def _email(notifier: EmailNotifier, message: Message) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=notifier.conn_id) as hook:
        hook.send_email_smtp(
            to=list(notifier.to),
            subject=message.subject,
            html_content=message.email_html(),
            from_email=hook.from_email or "syncgate@localhost",
        )
