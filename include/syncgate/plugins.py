"""syncgate's Airflow plugins: the UI views and the "Sync report" task link.

Registered twice over, for the two ways syncgate is installed: an installed wheel declares them
as ``airflow.plugins`` entry points (``pyproject.toml``); a project checkout's ``plugins/``
folder imports them. Deploy one or the other: Airflow refuses a plugin name seen twice.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from syncgate.report.links import SyncReportLink
from syncgate.ui.asgi import LazyUiApp


class SyncgateUiPlugin(AirflowPlugin):
    """Mounts the syncgate UI app and adds its pages to the Airflow UI.

    Airflow's API server mounts the app under ``/syncgate``; every route authenticates with
    Airflow's own auth but the webhook receiver (``POST /syncgate/webhooks/<flow id>``), which
    checks Standard Webhooks signatures.
    """

    name = "syncgate_ui"
    # Built on the first request: task processes import this module too (for macros).
    fastapi_apps = [{"app": LazyUiApp(), "url_prefix": "/syncgate", "name": "syncgate UI"}]
    # hrefs are relative to Airflow's base URL (no leading slash); url_route renders them in an
    # iframe inside the Airflow UI, which sends the session cookie the app authenticates with.
    external_views = [
        {
            "name": "Sync health",
            "href": "syncgate/",
            "url_route": "syncgate-health",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Sync flow",
            "href": "syncgate/flows/{DAG_ID}",
            "url_route": "syncgate-flow",
            "destination": "dag",
        },
        # A tab on every DAG run: the run's report, one click from the run (the "Sync report"
        # extra link is only on the verify and promote task instances' Details tab).
        {
            "name": "Sync report",
            "href": "syncgate/flows/{DAG_ID}/runs/{RUN_ID}/report",
            "url_route": "syncgate-report",
            "destination": "dag_run",
        },
    ]


class SyncgateLinksPlugin(AirflowPlugin):
    """syncgate's task extra links (see ``syncgate.report.links``).

    The link itself is set on each flow's verify and promote tasks by the DAG factory; this
    plugin names no operators, so it adds the link to no other task.
    """

    name = "syncgate_links"
    operator_extra_links = [SyncReportLink()]
