"""The "Sync report" extra link on a flow's verify and promote tasks.

Airflow 3 mechanism: a link set on the operator (``operator_extra_links``) is evaluated by the
worker when the task finishes (success or failure) and its URL stored as an XCom under
``xcom_key``; the API server serves it from there (``XComOperatorLink``), so no syncgate code
runs in the API server for it. ``syncgate.plugins.SyncgateLinksPlugin`` registers the class as
well, as Airflow's guide asks; it names no operators, so it adds the link to no other task.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from syncgate.report.paths import report_url

LINK_NAME = "Sync report"
LINKED_TASKS = ("verify", "promote")


class SyncReportLink(BaseOperatorLink):
    """Points at the run's report page served by the syncgate UI plugin."""

    name = LINK_NAME

    @property
    def xcom_key(self) -> str:
        return "_link_syncgate_report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """``report_url`` of the task's run, absolute when ``[api] base_url`` is configured."""
        return absolute(report_url(ti_key.dag_id, ti_key.run_id))


def absolute(path: str) -> str:
    """Prefix ``[api] base_url`` (which may carry a sub-path) when it is set."""
    from airflow.sdk import conf

    base = (conf.get("api", "base_url", fallback="") or "").strip()
    return f"{base.rstrip('/')}{path}" if base else path


def attach(task: Any) -> None:
    """Give one task of a flow DAG the link (a TaskFlow ``XComArg`` or an operator)."""
    operator = getattr(task, "operator", task)
    operator.operator_extra_links = (*operator.operator_extra_links, SyncReportLink())
