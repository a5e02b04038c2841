"""The N-sided three-way merge of one record: pure, deterministic, no I/O.

Per record, syncgate remembers the last merged version (the *base*, ``Merged``) and, per side,
what it last saw on or wrote to that side (``SideView.known``, the echo ledger). A side's *edit*
is a field whose current value differs from what syncgate knew of that side; so a value
syncgate wrote itself comes back as no edit at all (echo suppression), whatever cursor value the
side stamped on it.

- Edits to different fields merge; the same field edited to different values on two or more
  sides is a conflict, decided by the field's rule (``Rules``) and reported as a ``Conflict``.
  Equal values are not a conflict.
- An edit made on a side that had not yet received the base's value of that field (a side left
  behind by a failed apply) competes with the base's value: concurrent, not newer.
- A delete is a tombstone; delete against update follows ``Rules.deletes``.
- A ``manual`` conflict parks the whole record: nothing is written for it until a resolution
  (``resolutions``) chooses the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Row = dict[str, Any]
# The pseudo-field of a record-level conflict (delete against update).
RECORD = "(record)"
DELETED = "(deleted)"


@dataclass(frozen=True)
class Rule:
    """How one field's conflict is decided."""

    kind: Literal["newest_wins", "system_of_record", "version", "manual"]
    side: str | None = None  # system_of_record: the owning side
    column: str | None = None  # version: the common field holding the version

    @property
    def name(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Rules:
    default: Rule
    tie_break: tuple[str, ...]
    fields: Mapping[str, Rule] = field(default_factory=dict)
    deletes: Literal["update_wins", "delete_wins"] = "update_wins"

    def for_field(self, name: str) -> Rule:
        return self.fields.get(name, self.default)

    def rank(self, side: str) -> int:
        """Lower wins a tie."""
        return self.tie_break.index(side) if side in self.tie_break else len(self.tie_break)


@dataclass(frozen=True)
class Origin:
    """Where the base's value of a field came from: the side and its change time."""

    side: str
    at: str | None = None


@dataclass(frozen=True)
class Merged:
    """The last merged version of a record (the base); ``values`` None: deleted."""

    values: Row | None
    origins: Mapping[str, Origin] = field(default_factory=dict)


@dataclass(frozen=True)
class SideView:
    """One side's record this run. ``known``/``current`` None: the side does not hold it."""

    fields: frozenset[str]
    known: Row | None
    current: Row | None
    at: str | None = None  # the change's time on that side (ISO 8601, UTC), when it changed


@dataclass(frozen=True)
class Conflict:
    field: str
    base_value: Any
    side_values: dict[str, Any]
    rule: str
    winner: str | None
    value: Any
    status: Literal["resolved", "parked"]


@dataclass(frozen=True)
class Write:
    op: Literal["insert", "update", "delete"]
    values: Row  # the side's fields of the merged record (empty for a delete)
    changed: tuple[str, ...]  # fields whose value differs from what the side holds


@dataclass(frozen=True)
class Outcome:
    """The merged record (None: deleted), or parked; what to write to each side; what conflicted."""

    values: Row | None
    origins: dict[str, Origin]
    writes: dict[str, Write]
    conflicts: list[Conflict]
    parked: bool = False


@dataclass(frozen=True)
class _Candidate:
    side: str
    value: Any
    at: str | None
    version: Any = None
    from_base: bool = False


_MISSING = object()


def merge(
    base: Merged | None,
    sides: Mapping[str, SideView],
    rules: Rules,
    *,
    now: str,
    resolutions: Mapping[str, str] | None = None,
) -> Outcome:
    """Merge one record's sides against its base.

    ``now`` (ISO 8601, UTC) caps change times: a side whose clock runs ahead must not win every
    ``newest_wins`` conflict. ``resolutions`` maps a parked field to the side whose value a user
    chose (``syncgate conflicts resolve``).
    """
    deleted_base = base is not None and base.values is None
    base = base or Merged(None)
    chosen = dict(resolutions or {})
    at = {name: _trusted(view.at, now) for name, view in sides.items()}
    conflicts: list[Conflict] = []
    deleters = sorted(n for n, v in sides.items() if v.known is not None and v.current is None)
    editors = {n: _edited(v, base.values) for n, v in sides.items() if v.current is not None}
    editors = {n: f for n, f in editors.items() if f}

    # A delete of a version older than the base competes with the base's update; an update of a
    # record the base says is deleted competes with that delete.
    stale_delete = base.values is not None and any(
        _project(sides[n].known, sides[n].fields) != _project(base.values, sides[n].fields) for n in deleters
    )
    stale_update = deleted_base and any(sides[n].known is not None for n in editors)
    if (deleters and (editors or stale_delete)) or stale_update:
        live = rules.deletes == "update_wins"
        removers = deleters or ["(base)"]
        updaters = sorted(editors) or sorted({o.side for o in base.origins.values()} - set(deleters))
        conflicts.append(
            Conflict(
                field=RECORD,
                base_value=DELETED if deleted_base else "(live)",
                side_values={**{n: DELETED for n in removers}, **{n: "(updated)" for n in updaters}},
                rule=f"deletes:{rules.deletes}",
                winner=(updaters[0] if updaters else None) if live else removers[0],
                value="(live)" if live else DELETED,
                status="resolved",
            )
        )
    elif deleters:
        live = False
    else:
        live = bool(editors) or base.values is not None

    if not live:
        return Outcome(None, dict(base.origins), _writes(None, sides), conflicts)

    values: Row = dict(base.values or {})
    if deleted_base:
        # Restoring a deleted record: it is what the sides still holding it last held (the first
        # in tie_break wins), with the edits merged on top.
        for name in sorted(sides, key=rules.rank, reverse=True):
            if sides[name].current is not None:
                values.update(sides[name].known or {})
    origins = dict(base.origins)
    parked = False
    all_fields = sorted(set().union(*(v.fields for v in sides.values())))
    for name in all_fields:
        candidates, stale = _proposals(name, base, sides, editors, at)
        if not candidates:
            continue
        if stale and base.values is not None and name in base.values:
            fresh = [c for c in candidates if c.side not in stale]
            origin = base.origins.get(name, Origin(side="(base)"))
            # The side the base's value came from supersedes it with its own later edit.
            if not fresh and origin.side not in {c.side for c in candidates}:
                version = base.values.get(rules.for_field(name).column or "")
                candidates.append(_Candidate(origin.side, base.values[name], origin.at, version, True))
        distinct = {_hashable(c.value) for c in candidates}
        if len(distinct) == 1:
            same = max(candidates, key=lambda c: _newest(c, rules))
            values[name] = same.value
            if not same.from_base:
                origins[name] = Origin(same.side, same.at)
            continue
        rule = rules.for_field(name)
        base_value = (base.values or {}).get(name)
        side_values: dict[str, Any] = {}
        for c in candidates:
            side_values.setdefault(c.side, c.value)
        if name in chosen:
            winner = next((c for c in candidates if c.side == chosen[name]), None)
            chooser = sides.get(chosen[name])
            if winner is None and chooser is not None and chooser.current is not None:
                winner = _Candidate(chosen[name], chooser.current.get(name), at[chosen[name]], None)
            if winner is not None:
                # The log shows the chosen value even when its side made no edit this run.
                side_values.setdefault(winner.side, winner.value)
                values[name] = winner.value
                origins[name] = Origin(winner.side, winner.at)
                conflicts.append(
                    Conflict(name, base_value, side_values, "manual", winner.side, winner.value, "resolved")
                )
                continue
        pick = _decide(rule, candidates, rules, sides)
        if pick is None:
            parked = True
            conflicts.append(Conflict(name, base_value, side_values, rule.name, None, None, "parked"))
            continue
        values[name] = pick.value
        origins[name] = Origin(pick.side, pick.at)
        conflicts.append(
            Conflict(name, base_value, side_values, rule.name, pick.side, pick.value, "resolved")
        )

    if parked:
        return Outcome(
            base.values, dict(base.origins), {}, [c for c in conflicts if c.status == "parked"], True
        )
    return Outcome(values, origins, _writes(values, sides), conflicts)


def _edited(view: SideView, base: Row | None) -> frozenset[str]:
    """The fields a side changed since syncgate last saw it (all of them for a new record).

    A value equal to the base's is no edit: the side caught up with the merge (syncgate's own
    write whose ledger update a crash lost, or the edit another side made too), so it must not
    compete with a real edit of that field.
    """
    current, known = view.current, view.known
    assert current is not None
    if known is None:
        changed = [f for f in view.fields if f in current]
    else:
        changed = [f for f in view.fields if current.get(f) != known.get(f)]
    if base is None:
        return frozenset(changed)
    return frozenset(f for f in changed if current.get(f) != base.get(f))


def _proposals(
    name: str,
    base: Merged,
    sides: Mapping[str, SideView],
    editors: Mapping[str, frozenset[str]],
    at: Mapping[str, str | None],
) -> tuple[list[_Candidate], set[str]]:
    """The sides' edits of one field, and which of them were made without the base's value."""
    candidates: list[_Candidate] = []
    stale: set[str] = set()
    base_value = _MISSING if base.values is None else base.values.get(name, _MISSING)
    for side, fields in editors.items():
        if name not in fields:
            continue
        view = sides[side]
        assert view.current is not None
        known = _MISSING if view.known is None else view.known.get(name, _MISSING)
        if known != base_value:
            stale.add(side)
        candidates.append(_Candidate(side, view.current.get(name), at[side]))
    return candidates, stale


def _decide(
    rule: Rule, candidates: list[_Candidate], rules: Rules, sides: Mapping[str, SideView]
) -> _Candidate | None:
    """The winning candidate of a conflict, or None to park it."""
    if rule.kind == "manual":
        return None
    if rule.kind == "system_of_record":
        owned = [c for c in candidates if c.side == rule.side]
        if owned:
            return owned[0]
    if rule.kind == "version":
        versioned = [(c, _version(c, rule, sides)) for c in candidates]
        known = [(c, v) for c, v in versioned if v is not None]
        if len(known) < len(versioned):
            return None
        top = max(v for _, v in known)
        best = [c for c, v in known if v == top]
        return best[0] if len({_hashable(c.value) for c in best}) == 1 else None
    return max(candidates, key=lambda c: _newest(c, rules))


def _version(candidate: _Candidate, rule: Rule, sides: Mapping[str, SideView]) -> Any:
    if candidate.from_base:
        value = candidate.version
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    view = sides.get(candidate.side)
    if view is None or view.current is None or rule.column is None:
        return None
    value = view.current.get(rule.column)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _newest(candidate: _Candidate, rules: Rules) -> tuple[str, int]:
    # Missing times are oldest; equal times go to the side listed first in tie_break.
    return (candidate.at or "", -rules.rank(candidate.side))


def _trusted(at: str | None, now: str) -> str | None:
    """A change time from the future says the side's clock runs ahead: it counts as unknown
    (older than any real time), so that side cannot win every ``newest_wins`` conflict."""
    return None if at is None or at > now else at


def _writes(values: Row | None, sides: Mapping[str, SideView]) -> dict[str, Write]:
    """What each side needs to hold the merged record."""
    writes: dict[str, Write] = {}
    for name, view in sides.items():
        if values is None:
            if view.current is not None:
                writes[name] = Write("delete", {}, ())
            continue
        wanted = {f: values[f] for f in view.fields if f in values}
        if view.current is None:
            writes[name] = Write("insert", wanted, tuple(sorted(wanted)))
            continue
        changed = tuple(sorted(f for f in wanted if view.current.get(f, _MISSING) != wanted[f]))
        if changed:
            writes[name] = Write("update", wanted, changed)
    return writes


def _project(values: Row | None, fields: frozenset[str]) -> Row | None:
    return None if values is None else {f: values[f] for f in fields if f in values}


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
