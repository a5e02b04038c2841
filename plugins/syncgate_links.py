"""Registers syncgate's "Sync report" task link with Airflow (see syncgate.report.links).

The link itself is set on each flow's verify and promote tasks by the DAG factory; this
plugin names no operators, so it adds the link to no other task.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from syncgate.report.links import SyncReportLink


class SyncgateLinksPlugin(AirflowPlugin):
    """Airflow plugin: syncgate's task extra links."""

    name = "syncgate_links"
    operator_extra_links = [SyncReportLink()]
