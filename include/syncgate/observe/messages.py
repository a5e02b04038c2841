"""Alert messages: a Slack-compatible webhook body and an e-mail, built from a notice.

They carry the flow, what breached, the numbers and links to the run and its report. They
never carry error texts or row values (either may hold PII), nor connection details.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from syncgate.observe.incidents import Notice
from syncgate.observe.rules import human
from syncgate.report.paths import report_url

_TITLES = {
    "freshness": "data freshness",
    "failures": "consecutive failed runs",
    "lag_spike": "lag spike",
    "duration_spike": "run duration spike",
    "retained_wal": "WAL retained by a replication slot",
}
_EVENTS = {"opened": "ALERT", "escalated": "ESCALATED", "reminder": "STILL FIRING", "resolved": "RESOLVED"}
# Detail keys shown as fields, in this order, with how to print them.
_FIELDS = (
    ("lag_seconds", "lag", "duration"),
    ("max_age_seconds", "max_age", "duration"),
    ("warn_age_seconds", "warn_age", "duration"),
    ("high_water_mark", "newest value", "text"),
    ("column", "column", "text"),
    ("consecutive", "consecutive failures", "text"),
    ("threshold", "threshold", "text"),
    ("value_seconds", "value", "duration"),
    ("median_seconds", "median", "duration"),
    ("factor", "factor", "text"),
    ("runs", "runs", "runs"),
)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    fields: list[tuple[str, str]]
    links: list[tuple[str, str]]

    def webhook_body(self) -> dict[str, Any]:
        """Slack-compatible: ``text`` for notifications and plain receivers, ``blocks`` for layout."""
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": self.text}},
        ]
        if self.fields:
            blocks.append(
                {"type": "section",
                 "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in self.fields[:10]]}
            )  # fmt: skip
        if self.links:
            blocks.append(
                {"type": "context",
                 "elements": [{"type": "mrkdwn", "text": " | ".join(f"<{u}|{n}>" for n, u in self.links)}]}
            )  # fmt: skip
        links = "".join(f"\n{n}: {u}" for n, u in self.links)
        return {"text": f"{self.subject}\n{self.text}{links}", "blocks": blocks}

    def email_html(self) -> str:
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.fields
        )
        links = "".join(f"<li><a href='{html.escape(u)}'>{html.escape(n)}</a></li>" for n, u in self.links)
        return (
            f"<h3>{html.escape(self.subject)}</h3><p>{html.escape(self.text)}</p>"
            f"<table>{rows}</table><ul>{links}</ul>"
        )


def render(notice: Notice, base_url: str) -> Message:
    """The message for a notice; ``base_url`` is the Airflow UI's (``[api] base_url``)."""
    what = _TITLES.get(notice.kind, notice.kind)
    subject = f"[syncgate] {_EVENTS[notice.event]} {notice.flow_id}: {what} ({notice.severity})"
    if notice.event == "resolved":
        text = f"Flow {notice.flow_id} recovered: {what} is back within limits (was: {notice.summary})."
    else:
        text = f"Flow {notice.flow_id}: {notice.summary}."
    text += f" Incident #{notice.incident_id}, open since {notice.opened_at:%Y-%m-%d %H:%M} UTC."
    fields = [(label, _show(notice.details[key], how)) for key, label, how in _FIELDS
              if notice.details.get(key) is not None]  # fmt: skip
    return Message(subject, text, fields, _links(notice, base_url.rstrip("/")))


def _show(value: Any, how: str) -> str:
    if how == "duration":
        return human(float(value))
    if how == "runs" and isinstance(value, list):
        return ", ".join(f"{r.get('run_id')} ({r.get('status')})" for r in value[:5])
    return str(value)


def _links(notice: Notice, base: str) -> list[tuple[str, str]]:
    links = [("flow", f"{base}/dags/{notice.flow_id}")]
    if notice.run_id:
        links.append(("run", f"{base}/dags/{notice.flow_id}/runs/{quote(notice.run_id, safe='')}"))
        links.append(("run report", f"{base}{report_url(notice.flow_id, notice.run_id)}"))
    return links
