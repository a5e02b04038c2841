"""Sync state (watermarks) and the audit trail, kept in the target database."""

from __future__ import annotations
