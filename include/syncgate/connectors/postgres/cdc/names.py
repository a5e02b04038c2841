"""The names of a flow's replication slot and publication: stable, sanitised, <= 63 bytes."""

from __future__ import annotations

import hashlib
import re

PREFIX = "syncgate_"
# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; a slot name longer is an error.
MAX_BYTES = 63


def slot_name(flow_id: str) -> str:
    """The flow's logical replication slot: ``syncgate_<flow id>``."""
    return _name(flow_id)


def publication_name(flow_id: str) -> str:
    """The flow's publication (same name as its slot: one pair per flow)."""
    return _name(flow_id)


def _name(flow_id: str) -> str:
    # Slot names allow only lower-case letters, digits and underscores.
    clean = re.sub(r"[^a-z0-9_]", "_", flow_id.lower())
    name = PREFIX + clean
    if len(name) <= MAX_BYTES and clean == flow_id:
        return name
    # Sanitised or shortened: a digest of the real id keeps two ids that clean alike apart.
    digest = hashlib.sha1(flow_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_BYTES - len(digest) - 1]}_{digest}"
