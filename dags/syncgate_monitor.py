"""Registers the Airflow DAG of the syncgate freshness and alert monitor ($SYNCGATE_MONITOR_SCHEDULE)."""

from __future__ import annotations

from syncgate.observe.monitor_dag import build_monitor_dag

dag = build_monitor_dag()
