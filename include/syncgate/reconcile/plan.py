"""One run's merge over every record that needs it, and what a side's apply settles: pure.

The reconcile stage (``decide``) loads the state and the sides' changes, calls ``plan_run`` and
commits each record's ``adopt`` with the conflict log and the pending marks, before any side is
written; each side's promote (``side_apply``) then writes its ``Outcome.writes`` and calls
``settle_side`` for what that side applied. Keeping this free of I/O lets the property tests
drive exactly this protocol, with crashes between any two side applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from syncgate.reconcile.merge import Merged, Outcome, Row, Rules, SideView, merge


@dataclass(frozen=True)
class Change:
    """A side's record as read this run (``values`` None: deleted there) and its change time."""

    values: Row | None
    at: str | None = None


@dataclass
class RecordState:
    """What the state database holds for one record: the base and the per-side echo ledger."""

    merged: Merged | None = None  # None: never merged
    known: dict[str, Row | None] = field(default_factory=dict)  # side -> what it holds; absent = nothing
    parked: dict[str, Change] = field(default_factory=dict)  # side -> its change, while parked


@dataclass(frozen=True)
class Planned:
    """A record's outcome this run, with the side views it was merged from."""

    key: str
    outcome: Outcome
    views: dict[str, SideView]


def plan_run(
    rules: Rules,
    side_fields: Mapping[str, frozenset[str]],
    states: Mapping[str, RecordState],
    changes: Mapping[str, Mapping[str, Change]],
    *,
    pending: Iterable[str] = (),
    resolutions: Mapping[str, Mapping[str, str]] | None = None,
    now: str,
) -> list[Planned]:
    """Merge every record that changed on a side, is pending on a side, or is parked with news.

    ``states`` must hold an entry (possibly empty) for each such key; ``pending`` names records
    a side has not yet received (an earlier apply failed or was skipped).
    """
    resolutions = resolutions or {}
    keys = set(pending) | set(resolutions)
    for by_key in changes.values():
        keys.update(by_key)
    planned: list[Planned] = []
    for key in sorted(keys):
        state = states.get(key) or RecordState()
        views: dict[str, SideView] = {}
        for side, fields in side_fields.items():
            known = state.known.get(side)
            change = changes.get(side, {}).get(key) or state.parked.get(side)
            current, at = (change.values, change.at) if change is not None else (known, None)
            views[side] = SideView(fields, known, _project(current, fields), at)
        outcome = merge(state.merged, views, rules, now=now, resolutions=resolutions.get(key))
        planned.append(Planned(key, outcome, views))
    return planned


def adopt(state: RecordState, planned: Planned) -> RecordState:
    """The record's state once the run commits to its plan, before any side is written.

    The base becomes the merged record and each side's ledger what this run read on it. Without
    this, a crash right after the first side's write loses the run's reads: that write then
    comes back as the side's own edit (a record a user deleted meanwhile on another side would
    be restored) and a change read this run is merged, and conflicts, a second time.
    """
    if planned.outcome.parked:
        for side in planned.views:
            state = settle_side(state, side, planned, applied=False)
        return state
    known = {**state.known, **{side: view.current for side, view in planned.views.items()}}
    return RecordState(Merged(planned.outcome.values, dict(planned.outcome.origins)), known, {})


def settle_side(state: RecordState, side: str, planned: Planned, *, applied: bool) -> RecordState:
    """The record's state once ``side`` applied (or, ``applied=False``, skipped) its write.

    The base becomes the merged record as soon as one side settles it (or ``adopt``), and the
    side's ledger entry becomes what it now holds, so the echo of syncgate's own write is no
    edit. A parked record keeps its base and ledger and remembers the side's change until it is
    resolved.
    """
    outcome = planned.outcome
    view = planned.views[side]
    if outcome.parked:
        parked = dict(state.parked)
        if view.current != view.known or side in parked:
            parked[side] = Change(view.current, view.at)
        return RecordState(state.merged, dict(state.known), parked)
    known = dict(state.known)
    if applied:
        known[side] = _project(outcome.values, view.fields)
    return RecordState(Merged(outcome.values, dict(outcome.origins)), known, {})


def needs_write(planned: Planned, side: str) -> bool:
    return side in planned.outcome.writes


def _project(values: Row | None, fields: frozenset[str]) -> Row | None:
    return None if values is None else {f: values[f] for f in fields if f in values}
