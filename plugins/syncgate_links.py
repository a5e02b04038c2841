"""Registers syncgate's "Sync report" task link with Airflow (see syncgate.report.links).

Thin on purpose: the plugin class lives in ``syncgate.plugins`` (on PYTHONPATH via ``include/``),
where an installed syncgate wheel registers it as an ``airflow.plugins`` entry point instead.
"""

from __future__ import annotations

from syncgate.plugins import SyncgateLinksPlugin

__all__ = ["SyncgateLinksPlugin"]
