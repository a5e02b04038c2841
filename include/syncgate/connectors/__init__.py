"""Connectors: one package per system type, each a source and/or a target (``base``).

Importing this package registers the connectors syncgate ships; a third-party connector
calls ``syncgate.connectors.registry.register`` the same way. Registration imports only spec
models: the implementations load when a task first builds a source or target.
"""

from __future__ import annotations

# Each registers itself. PostgreSQL first: its models lead the spec unions.
from syncgate.connectors import postgres  # noqa: F401  # isort: skip
from syncgate.connectors import http  # noqa: F401  # isort: skip
