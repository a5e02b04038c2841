"""Log sequence numbers: PostgreSQL's ``X/Y`` text form and the 64-bit integer behind it."""

from __future__ import annotations


def to_int(lsn: str) -> int:
    """``'16/B374D848'`` -> its 64-bit position."""
    high, _, low = lsn.partition("/")
    if not low:
        raise ValueError(f"not an LSN: {lsn!r}")
    return (int(high, 16) << 32) | int(low, 16)


def to_text(position: int) -> str:
    """A 64-bit position in PostgreSQL's ``X/Y`` form (what ``pg_lsn`` prints)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
