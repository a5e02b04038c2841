"""Which slice of the source a run reads: the incremental window.

- First run, or no cursor: the whole table.
- Later runs: rows with ``cursor >= watermark``. Rows that share the boundary value are never
  lost (``>=``). Merge re-reads them and leaves them untouched unless they changed (so an
  update that keeps the cursor value is still picked up). Append cannot re-read them without
  duplicating, so it skips the boundary rows the previous run promoted (their keys are stored
  with the watermark); an update that keeps the cursor value is then not seen.
- Backfill runs: exactly ``[interval_start, interval_end)`` of the cursor; they never move the
  live watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncgate.batch.run import RunInfo
from syncgate.errors import FatalError
from syncgate.state.watermarks import Watermark


@dataclass(frozen=True)
class Window:
    """Lower / upper bounds on the cursor; ``None`` means unbounded."""

    lower: str | None = None
    upper: str | None = None
    skip_keys: list[str] = field(default_factory=list)
    moves_watermark: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.lower, "to": self.upper, "moves_watermark": self.moves_watermark}


def plan_window(cursor: str | None, run: RunInfo, mark: Watermark, skip_boundary: bool = False) -> Window:
    """Decide the window of ``run`` from the committed watermark."""
    if run.is_backfill:
        if cursor is None:
            raise FatalError(
                f"flow {run.flow_id!r} has no `source.cursor`: a backfill cannot select a "
                "data interval; trigger a normal run for a full refresh instead"
            )
        if run.interval_start is None or run.interval_end is None:
            raise FatalError("a backfill run needs a data interval")
        return Window(
            lower=run.interval_start.isoformat(),
            upper=run.interval_end.isoformat(),
            moves_watermark=False,
        )
    if cursor is None or mark.value is None:
        return Window()
    return Window(lower=mark.value, skip_keys=list(mark.boundary_keys) if skip_boundary else [])
