"""The syncgate views inside the Airflow UI: sync health, flow detail, data quality reports.

Served by a read-only FastAPI app that the ``syncgate_ui`` Airflow plugin (``syncgate.plugins``) mounts
under ``/syncgate`` of Airflow's API server, behind Airflow's own authentication.
"""

from __future__ import annotations
