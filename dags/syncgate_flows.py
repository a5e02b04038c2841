"""Registers one Airflow DAG per flow spec in dags/flows/ (or $SYNCGATE_FLOWS_DIR)."""

from __future__ import annotations

from syncgate.dag_factory import build_dags

globals().update(build_dags())
