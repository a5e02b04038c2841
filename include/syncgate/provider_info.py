"""What an installed syncgate tells Airflow about itself (the ``apache_airflow_provider`` entry point).

Airflow's providers manager validates it against ``airflow/provider_info.schema.json`` and lists
it under Admin -> Providers and in ``airflow providers list``. syncgate defines no connection
type of its own (flows name ``postgres`` and ``http`` connections; a webhook secret is any
connection, ``generic`` will do), so it declares none.

The plugins are not listed here: the wheel's ``airflow.plugins`` entry points register them
(pyproject.toml), and Airflow loads a provider's ``plugins`` list as well when
``[core] lazy_discover_providers`` is False, where each would count as a plugin import error
("already registered").
"""

from __future__ import annotations

from typing import Any

from syncgate import __version__

PACKAGE_NAME = "syncgate"


def get_provider_info() -> dict[str, Any]:
    """The provider metadata: names, versions and the task extra link."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "syncgate",
        "description": (
            "Quality-gated data synchronisation: one DAG per YAML flow spec (extract, transform, load, "
            "a Great Expectations gate, promote). Its plugins add Browse -> Sync health, a Sync flow "
            "tab on every DAG and a Sync report task link."
        ),
        "versions": [__version__],
        "integrations": [{"integration-name": "syncgate", "tags": ["software"]}],
        "extra-links": ["syncgate.report.links.SyncReportLink"],
    }
