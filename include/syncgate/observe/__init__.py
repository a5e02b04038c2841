"""Observability: freshness SLAs, the monitor, lag and failure alerts, notifiers."""

from __future__ import annotations
