"""Secrets kept out of everything syncgate stores or logs: audit rows, reports, incidents, task logs.

``redact(text)`` is the one function every error or hint passes through before it is written.
It knows every secret of the connections registered in this process (``register_flow``,
``register_connection``) and removes any run of 6+ characters of each, as well as the value of
any credential-bearing header or parameter the text quotes (``headers.py``).
"""

from __future__ import annotations

from syncgate.redact.registry import (
    redact,
    redact_exception,
    register_connection,
    register_flow,
    register_secret,
)

__all__ = ["redact", "redact_exception", "register_connection", "register_flow", "register_secret"]
