"""Queued fault injection: each fault fires on the next ``count`` requests under its path prefix."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("429", "500", "502", "503", "slow", "truncate", "drop", "loop")
# Kinds that may first let the request through ("apply": the write happens, the answer is lost).
APPLY_KINDS = ("500", "502", "503", "drop")
# ``loop`` answers as if the paging parameters were absent (the first page again), so a client
# that follows tokens, links or page numbers is sent back to a page it already read.
PAGING_PARAMS = (b"page", b"offset", b"cursor")


@dataclass
class Fault:
    """One queued fault; ``retry_after`` is sent verbatim (it may be deliberately malformed)."""

    kind: str
    count: int = 1
    path: str = ""
    retry_after: str | None = None
    delay: float = 1.0
    apply: bool = False
    after: int = 0  # matching requests to let through before the fault starts firing

    def public(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "count": self.count,
            "path": self.path,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "apply": self.apply,
            "after": self.after,
        }


class FaultQueue:
    """Faults in the order they were added; not locked itself (the state's lock covers it)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.fired = 0

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, path: str) -> Fault | None:
        """The first fault matching ``path``, consuming one of its ``count``."""
        for fault in self.faults:
            if path.startswith(fault.path):
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                self.fired += 1
                return fault
        return None
