"""The "Sync report" link on verify and promote: the run's report page, absolute when Airflow knows its URL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from syncgate.report.links import LINK_NAME, SyncReportLink, absolute, attach

pytestmark = pytest.mark.unit


def test_the_link_points_at_the_runs_report_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    key = SimpleNamespace(dag_id="orders", run_id="manual__2026-01-01T00:00:00+00:00")
    assert SyncReportLink().get_link(None, ti_key=key) == (
        "/syncgate/flows/orders/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/report"
    )
    assert SyncReportLink().name == LINK_NAME and SyncReportLink().xcom_key == "_link_syncgate_report"


@pytest.mark.parametrize(
    ("base_url", "link"),
    [
        ("https://airflow.example.com", "https://airflow.example.com/syncgate/x"),
        ("https://example.com/airflow/", "https://example.com/airflow/syncgate/x"),
        ("  ", "/syncgate/x"),
    ],
)
def test_a_configured_base_url_makes_the_link_absolute(
    monkeypatch: pytest.MonkeyPatch, base_url: str, link: str
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", base_url)
    assert absolute("/syncgate/x") == link


def test_attach_adds_the_link_and_keeps_the_operators_others() -> None:
    other = object()
    operator = SimpleNamespace(operator_extra_links=(other,))
    attach(SimpleNamespace(operator=operator))  # a TaskFlow XComArg holds its operator
    assert operator.operator_extra_links[0] is other
    assert isinstance(operator.operator_extra_links[1], SyncReportLink)
    plain = SimpleNamespace(operator_extra_links=())
    attach(plain)
    assert [type(link) for link in plain.operator_extra_links] == [SyncReportLink]
