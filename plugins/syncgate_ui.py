"""Airflow plugin: the syncgate views (sync health, flow detail, run reports, data quality reports).

Thin on purpose: the plugin class lives in ``syncgate.plugins`` (on PYTHONPATH via ``include/``),
where an installed syncgate wheel registers it as an ``airflow.plugins`` entry point instead.
"""

from __future__ import annotations

from syncgate.plugins import SyncgateUiPlugin

__all__ = ["SyncgateUiPlugin"]
