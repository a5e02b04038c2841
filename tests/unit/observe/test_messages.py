from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncgate.observe.incidents import Notice
from syncgate.observe.messages import render
from syncgate.report.paths import report_url

pytestmark = pytest.mark.unit

OPENED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def notice(**kw: object) -> Notice:
    base: dict[str, object] = dict(
        incident_id=7, flow_id="erp_orders", kind="freshness", event="opened", severity="critical",
        summary="data is 3h 2m old, over its max_age of 2h", opened_at=OPENED,
        details={"lag_seconds": 10920.0, "max_age_seconds": 7200.0, "column": "updated_at", "status": "breach"},
        run_id="scheduled__2026-11-26T09:00:00+00:00",
    )  # fmt: skip
    return Notice(**{**base, **kw})  # type: ignore[arg-type]


def test_webhook_body_is_slack_compatible() -> None:
    body = render(notice(), "https://airflow.example.com/").webhook_body()
    assert set(body) == {"text", "blocks"}
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"] == {
        "type": "plain_text", "text": "[syncgate] ALERT erp_orders: data freshness (critical)",
    }  # fmt: skip
    fields = [f["text"] for f in body["blocks"][2]["fields"]]
    assert fields == ["*lag*\n3h 2m", "*max_age*\n2h", "*column*\nupdated_at"]
    run = "scheduled__2026-11-26T09%3A00%3A00%2B00%3A00"
    assert f"https://airflow.example.com/dags/erp_orders/runs/{run}" in body["text"]
    assert f"https://airflow.example.com/syncgate/flows/erp_orders/runs/{run}/report" in body["text"]
    assert "Incident #7, open since 2026-11-26 09:30 UTC" in body["text"]


def test_recovery_and_reminder_wording() -> None:
    resolved = render(notice(event="resolved"), "").webhook_body()["text"]
    assert resolved.startswith("[syncgate] RESOLVED erp_orders: data freshness")
    assert "recovered: data freshness is back within limits (was: data is 3h 2m old" in resolved
    assert "STILL FIRING" in render(notice(event="reminder"), "").subject


def test_email_html_escapes_everything() -> None:
    html = render(notice(summary="<script>x</script>"), "http://a").email_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_failures_list_runs_without_errors() -> None:
    details = {"consecutive": 3, "threshold": 3, "runs": [{"run_id": "r3", "status": "failed"}]}
    message = render(notice(kind="failures", details=details, summary="the last 3 runs failed"), "")
    assert ("runs", "r3 (failed)") in message.fields
    assert message.subject == "[syncgate] ALERT erp_orders: consecutive failed runs (critical)"


def test_without_a_run_only_the_flow_is_linked() -> None:
    assert [n for n, _ in render(notice(run_id=None), "http://a").links] == ["flow"]


def test_the_report_link_is_the_run_reports_url() -> None:
    [report] = [u for n, u in render(notice(run_id="a b/c"), "http://a").links if n == "run report"]
    assert report == "http://a" + report_url("erp_orders", "a b/c")
