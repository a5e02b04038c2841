"""Rejected records are shown without their PII: ``pii`` and hashed columns never appear in clear."""

from __future__ import annotations

from typing import Any

from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec

MASK = "••• (pii)"


def pii_columns(spec: FlowSpec | SyncSpec) -> set[str]:
    """Columns the flow treats as PII (``pii`` + ``transform.hash``), under source and target names.

    A sync flow's are its ``pii`` common fields (their values are hashed in its conflict log).
    """
    return set(spec.pii) if isinstance(spec, SyncSpec) else set(spec.pii_names)


def masked(record: Any, pii: set[str]) -> Any:
    """``record`` with the values of ``pii`` columns replaced; other shapes pass unchanged."""
    if isinstance(record, dict):
        return {k: (MASK if k in pii and v is not None else v) for k, v in record.items()}
    return record
