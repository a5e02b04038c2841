"""Airflow plugin: the syncgate views (sync health, flow detail, run reports, data quality reports).

Thin on purpose: the app lives in ``syncgate.ui`` (on PYTHONPATH via ``include/``). Airflow's
API server mounts it under ``/syncgate``; every route authenticates with Airflow's own auth but
the webhook receiver (``POST /syncgate/webhooks/<flow id>``), which checks Standard Webhooks signatures.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from syncgate.ui.asgi import LazyUiApp


class SyncgateUiPlugin(AirflowPlugin):
    """Mounts the syncgate UI app and adds its pages to the Airflow UI."""

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
