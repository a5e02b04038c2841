"""PostgreSQL access: connections from Airflow connection ids, identifiers, catalog."""

from __future__ import annotations
