"""Health rows as the health page orders and shows them (reading them from a state database is
covered by tests/integration/test_ui_queries.py and tests/integration/test_ui_app.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncgate.ui.health import FlowHealth, HealthReport, problems_first
from syncgate.ui.pages import environment

pytestmark = pytest.mark.unit

SLA = 7200.0


def row(flow_id: str, status: str = "success", *, sla: float | None = SLA, **values: Any) -> FlowHealth:
    health = FlowHealth(
        flow_id=flow_id, description="", mode="one_way", tags=[], owner="data", schedule=None,
        state_conn_id="dst_db", sla_max_age_seconds=sla, sla_warn_age_seconds=None, status=status,
        freshness="ok" if sla else "none", freshness_colour="green" if sla else "grey",
    )  # fmt: skip
    for name, value in values.items():
        setattr(health, name, value)
    return health


def test_problems_come_first_failing_rejected_late_then_ok_and_never_run_by_name_within_a_group() -> None:
    rows = [
        row("a_ok"),
        row("b_never", "never run"),
        row("c_late", freshness="breach"),
        row("d_rejected", "rejected"),
        row("e_failed", "failed"),
        row("f_ok"),
        row("g_unreadable", "unknown", error="state database 'x' is unreachable"),
        row("h_incident", incidents=[{"kind": "lag_spike", "severity": "warning", "summary": "slow"}]),
        row("i_warn", freshness="warn"),
        row("j_running", "running"),
        row("k_rejected", "rejected"),
    ]
    ordered = [(f.attention, f.flow_id) for f in problems_first(rows)]
    assert ordered == [
        ("failing", "e_failed"),
        ("failing", "g_unreadable"),
        ("rejected", "d_rejected"),
        ("rejected", "k_rejected"),
        ("late", "c_late"),
        ("late", "h_incident"),
        ("late", "i_warn"),
        ("ok", "a_ok"),
        ("ok", "f_ok"),
        ("ok", "j_running"),
        ("never run", "b_never"),
    ]
    report = HealthReport(problems_first(rows), [], None, [], datetime.now(UTC))
    assert report.needing_attention == 7
    assert [f["attention"] for f in report.as_json()["flows"]][:3] == ["failing", "failing", "rejected"]


def render(*flows: FlowHealth) -> str:
    report = HealthReport(list(flows), [], None, [], datetime(2026, 12, 6, tzinfo=UTC))
    return (
        environment()
        .get_template("health.html")
        .render(link=lambda path, **_: path, airflow_base="", report=report)
    )


def cell(html: str, flow_id: str) -> str:
    start = html.index(f'data-flow="{flow_id}"')
    start = html.index('class="freshness"', start)
    return " ".join(html[start : html.index("</td>", start)].split())


def test_a_flow_without_an_sla_shows_its_data_age_as_a_fact_not_as_a_grey_lag() -> None:
    html = render(
        row("static_ref", sla=None, lag_seconds=340 * 86400.0),
        row("orders", lag_seconds=600.0),
    )
    unmeasured = cell(html, "static_ref")
    assert "no SLA" in unmeasured and "newest row 340d 00h old" in unmeasured
    assert "lag" not in unmeasured.split('">', 1)[1]  # only the tooltip may say anything else
    assert "fresh-grey" not in unmeasured and "fresh-none" in unmeasured
    measured = cell(html, "orders")
    assert "fresh-green" in measured and "lag 10m 00s" in measured and "no SLA" not in measured


def test_the_page_says_how_many_flows_need_attention() -> None:
    html = render(row("b_failed", "failed"), row("a_ok"))
    assert "<strong>1</strong> of 2 flow(s) need attention" in html
    assert "No flow is failing" in render(row("a_ok"))
