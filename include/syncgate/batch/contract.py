"""The stage contract: what one stage hands the next through XCom about the run's batch.

XCom carries paths, counts and watermarks, never data. ``Batch.to_xcom`` writes a versioned
JSON object; ``Batch.from_xcom`` refuses an object of another contract version (a task of an
older or newer deployment) or a missing one (an upstream task that never produced a batch)
with a message saying what to do, instead of a ``KeyError`` deep inside a stage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from syncgate.errors import ContractError

# Bump when a field changes meaning or a required one appears; ``from_xcom`` then refuses
# batches that other versions wrote.
CONTRACT_VERSION = 2

Columns = list[tuple[str, str]]


@dataclass(frozen=True)
class BatchWindow:
    """The slice of the source the batch covers (``None``: unbounded)."""

    lower: str | None = None
    upper: str | None = None
    moves_watermark: bool = True


@dataclass(frozen=True)
class Batch:
    """One run's batch, from extract to promote; each stage returns a copy with its part added."""

    flow_id: str
    run_id: str
    batch_id: str
    # Landed files by role: ``data`` (extract), ``keys`` (the source's key set, for hard
    # deletes), ``deleted`` (keys the source reports deleted: a change log), ``staged`` (what
    # load copies: the transformed batch, or ``data``).
    files: dict[str, str]
    columns: Columns
    rows: int
    bytes: int
    bytes_uncompressed: int
    window: BatchWindow
    watermark_before: str | None
    watermark_batch_before: str | None
    watermark_after: str | None
    # The batch's number in the flow's sequence (``syncgate.batch.fence``): promote refuses it
    # once a batch with a larger number has promoted.
    sequence: int
    # Landed JSON of the new watermark and the keys at its value (they can be many).
    boundary: str | None = None
    # Source fields offered but not selected (the report's "fields dropped").
    fields_unselected: list[str] = field(default_factory=list)
    # The source's columns may grow (schema evolution): promote adds new ones to the target.
    adds_columns: bool = False
    staging_table: str | None = None
    staged_rows: int | None = None
    quality: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def has_key_set(self) -> bool:
        """The source's whole key set was landed next to the batch (hard-delete detection)."""
        return "keys" in self.files

    @property
    def has_deletions(self) -> bool:
        """The source reported deleted keys (``deleted``), staged next to the batch."""
        return "deleted" in self.files

    def with_seconds(self, **timings: float) -> Batch:
        return dataclasses.replace(self, seconds={**self.seconds, **timings})

    def to_xcom(self) -> dict[str, Any]:
        """The batch as plain JSON values, with its contract version (XCom, the run report)."""
        body = dataclasses.asdict(self)
        body["columns"] = [list(c) for c in self.columns]
        body["window"] = {
            "from": self.window.lower,
            "to": self.window.upper,
            "moves_watermark": self.window.moves_watermark,
        }
        return {"contract": CONTRACT_VERSION, **body}

    as_dict = to_xcom

    @classmethod
    def from_xcom(cls, value: Any, *, flow_id: str, stage: str) -> Batch:
        """The batch an upstream task returned, or a ``ContractError`` saying why there is none."""
        if value is None:
            raise ContractError(
                f"flow {flow_id!r}: {stage} received no batch (the upstream task produced none: it was "
                "skipped, marked success by hand, or failed); rerun the flow from extract"
            )
        version = value.get("contract") if isinstance(value, dict) else None
        if type(version) is not int or version != CONTRACT_VERSION:
            found = value.get("contract") if isinstance(value, dict) else type(value).__name__
            raise ContractError(
                f"flow {flow_id!r}: {stage} received a batch of stage contract {found!r}, this deployment "
                f"reads version {CONTRACT_VERSION} (tasks of two syncgate versions met mid-run); rerun "
                "the flow from extract"
            )
        body = {k: v for k, v in value.items() if k != "contract"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - names)
        if unknown:
            raise ContractError(f"flow {flow_id!r}: {stage} received unknown batch fields {unknown}")
        wrong = _mistyped(body)
        if wrong:
            raise ContractError(f"flow {flow_id!r}: {stage} received a malformed batch: {', '.join(wrong)}")
        try:
            return cls(
                **{
                    **body,
                    "columns": [(str(n), str(t)) for n, t in body["columns"]],
                    "window": BatchWindow(
                        body["window"]["from"], body["window"]["to"], body["window"]["moves_watermark"]
                    ),
                }
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(f"flow {flow_id!r}: {stage} received an incomplete batch: {exc}") from None


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _is_column(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)


_CHECKS: dict[str, Any] = {
    "flow_id": _is_text,
    "run_id": _is_text,
    "batch_id": _is_text,
    "files": lambda v: isinstance(v, dict) and all(_is_text(k) and _is_text(u) for k, u in v.items()),
    "columns": lambda v: isinstance(v, list) and all(_is_column(c) for c in v),
    "rows": _is_int,
    "bytes": _is_int,
    "bytes_uncompressed": _is_int,
    "window": lambda v: isinstance(v, dict)
    and set(v) == {"from", "to", "moves_watermark"}
    and _is_optional_text(v["from"])
    and _is_optional_text(v["to"])
    and isinstance(v["moves_watermark"], bool),
    "watermark_before": _is_optional_text,
    "watermark_batch_before": _is_optional_text,
    "watermark_after": _is_optional_text,
    "sequence": _is_int,
    "boundary": _is_optional_text,
    "fields_unselected": lambda v: isinstance(v, list) and all(_is_text(f) for f in v),
    "adds_columns": lambda v: isinstance(v, bool),
    "staging_table": _is_optional_text,
    "staged_rows": lambda v: v is None or _is_int(v),
    "quality": lambda v: v is None or isinstance(v, dict),
    "seconds": lambda v: isinstance(v, dict)
    and all(_is_text(k) and type(s) in (int, float) for k, s in v.items()),
}


def _mistyped(body: dict[str, Any]) -> list[str]:
    """The fields of an XCom batch whose values do not have the contract's types."""
    return [name for name, check in _CHECKS.items() if name in body and not check(body[name])]
