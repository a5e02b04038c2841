"""Schema drift for tests: extra, missing or retyped fields in what the list endpoints serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .records import Record

RETYPES = ("string", "integer", "number")


@dataclass
class Drift:
    """Changes applied to one resource's records on the way out (the stored data stays intact)."""

    added: dict[str, Any] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    retyped: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.retyped)

    def public(self) -> dict[str, Any]:
        return {"added": self.added, "dropped": sorted(self.dropped), "retyped": self.retyped}

    def shape(self, record: Record) -> Record:
        if not self:
            return record
        out = {k: v for k, v in record.items() if k not in self.dropped}
        for name, to in self.retyped.items():
            if out.get(name) is not None:
                out[name] = _convert(out[name], to)
        for name, value in self.added.items():
            out.setdefault(name, value)
        return out


def _convert(value: Any, to: str) -> Any:
    try:
        if to == "string":
            return str(value)
        if to == "integer":
            return int(float(value))
        return float(value)
    except (TypeError, ValueError):
        # An unconvertible value is served as is: drift is about types clients do not expect.
        return value
