"""Stateful properties of the resolution core: ``plan_run`` and ``settle_side`` driving simulated sides.

Each side is an in-memory table that stamps its cursor (its own, possibly skewed clock) on every
write, syncgate's included, and is read by watermark, so the echo of syncgate's writes comes back
as a change every run. A sync reads every side, plans, commits the plan (conflicts, pending marks
and each record's ``adopt``), then applies the sides in a random order and settles each (with only
that side's view, as a side's promote does); it may crash after any apply, before or after that
side's settle. Between syncs, users create, edit and delete records on random sides (the same
field on several sides, a delete on one and edits on others), and resolve parked records.

After a sync that completes, every record that is not parked must be the same on every side
(each in its own fields), no user edit may be lost unless a logged conflict overrode it, and a
second sync must write and log nothing. Every conflict must follow its rule and must involve a
user edit syncgate had not merged yet (a crash must not conflict, or park, a record again).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from syncgate.reconcile.merge import DELETED, RECORD, Conflict, Merged, Rule, Rules, SideView, Write
from syncgate.reconcile.plan import Change, Planned, RecordState, adopt, plan_run, settle_side

pytestmark = pytest.mark.unit

KEYS = ("k1", "k2")
VER = "ver"
OPTIONAL = ("y", "z")  # fields some sides lack; every side has "x" and the version field
POOL = ("p0", "p1", None)  # values two sides may set independently
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_MISSING = object()


def stamp(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


AB = {"a": frozenset({"x", VER}), "b": frozenset({"x", VER})}
NEWEST = Rules(Rule("newest_wins"), ("a", "b"))
ROW = {"x": "one", VER: 1}


def one_run(
    states: dict[str, RecordState], changes: dict[str, dict[str, Change]], **kwargs: Any
) -> dict[str, Planned]:
    planned = plan_run(NEWEST, AB, states, changes, now=stamp(100), **kwargs)
    return {p.key: p for p in planned}


def settled(state: RecordState, p: Planned, *sides: str) -> RecordState:
    for side in sides:
        state = settle_side(state, side, Planned(p.key, p.outcome, {side: p.views[side]}), applied=True)
    return state


def test_only_records_changed_pending_or_resolved_are_merged() -> None:
    synced = RecordState(Merged(ROW), {"a": ROW, "b": ROW})
    states = {"k1": synced, "k2": synced, "k3": synced, "k4": synced}
    planned = one_run(states, {"a": {"k1": Change({**ROW, "x": "two"}, stamp(5))}}, pending=["k2"],
                      resolutions={"k3": {"x": "a"}})  # fmt: skip
    assert sorted(planned) == ["k1", "k2", "k3"]
    # A side without a change this run is what syncgate knows of it.
    assert planned["k1"].views["b"] == SideView(AB["b"], ROW, ROW, None)
    assert planned["k1"].outcome.writes["b"].changed == ("x",)
    assert planned["k2"].outcome.writes == {}


def test_the_echo_of_a_settled_write_is_no_edit_next_run() -> None:
    state = RecordState(Merged(ROW), {"a": ROW, "b": ROW})
    edit = {**ROW, "x": "two"}
    p = one_run({"k": state}, {"a": {"k": Change(edit, stamp(5))}})["k"]
    state = settled(adopt(state, p), p, "a", "b")
    assert state.known == {"a": edit, "b": edit} and state.merged == Merged(edit, p.outcome.origins)
    # b stamped its cursor when syncgate wrote it: the row comes back, unchanged.
    echo = one_run({"k": state}, {"b": {"k": Change(edit, stamp(20))}})["k"]
    assert (echo.outcome.writes, echo.outcome.conflicts) == ({}, [])


def test_a_crash_after_the_first_write_loses_no_delete_made_meanwhile() -> None:
    # a creates k; the run writes it to b and stops before b's settle; then a's user deletes k.
    p = one_run({}, {"a": {"k": Change(ROW, stamp(5))}})["k"]
    assert p.outcome.writes["b"].op == "insert"
    state = adopt(RecordState(), p)
    after = one_run({"k": state}, {"a": {"k": Change(None, stamp(30))}, "b": {"k": Change(ROW, stamp(20))}},
                    pending=["k"])["k"]  # fmt: skip
    assert after.outcome.values is None
    assert (after.outcome.writes, after.outcome.conflicts) == ({"b": Write("delete", {}, ())}, [])


def test_a_crash_before_a_sides_settle_does_not_conflict_its_change_again() -> None:
    rules = Rules(Rule("manual"), ("a", "b"))
    state = RecordState(Merged(ROW), {"a": ROW, "b": ROW})
    changes = {
        "a": {"k": Change({**ROW, "x": "a"}, stamp(5))},
        "b": {"k": Change({**ROW, "x": "b"}, stamp(6))},
    }
    parked = plan_run(rules, AB, {"k": state}, changes, now=stamp(10))[0]
    assert parked.outcome.parked
    state = settled(adopt(state, parked), parked, "a", "b")
    assert state.merged == Merged(ROW) and set(state.parked) == {"a", "b"}
    # The user chooses a's value; the run settles a and stops before it writes b, so b's change
    # is read again. It is merged already: no conflict, nothing parked, b still to write.
    chosen = plan_run(rules, AB, {"k": state}, {}, resolutions={"k": {"x": "a"}}, now=stamp(20))[0]
    assert chosen.outcome.values == {**ROW, "x": "a"}
    state = settled(adopt(state, chosen), chosen, "a")
    again = plan_run(rules, AB, {"k": state}, {"b": changes["b"]}, pending=["k"], now=stamp(30))[0]
    assert (again.outcome.parked, again.outcome.conflicts) == (False, [])
    assert again.outcome.writes == {"b": Write("update", {**ROW, "x": "a"}, ("x",))}


def test_a_parked_record_keeps_its_base_and_remembers_each_sides_change() -> None:
    rules = Rules(Rule("manual"), ("a", "b"))
    state = RecordState(Merged(ROW), {"a": ROW, "b": ROW})
    changes = {
        "a": {"k": Change({**ROW, "x": "a"}, stamp(5))},
        "b": {"k": Change({**ROW, "x": "b"}, stamp(6))},
    }
    p = plan_run(rules, AB, {"k": state}, changes, now=stamp(10))[0]
    parked = settle_side(state, "a", p, applied=True)
    assert (parked.merged, parked.known) == (state.merged, state.known)
    assert parked.parked == {"a": changes["a"]["k"]}


@dataclass
class Side:
    """A table that stamps its cursor on every write; deletes leave a stamped tombstone."""

    fields: frozenset[str]
    skew: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)  # key -> cursor of its last write or delete
    mark: int | None = None  # the watermark: changes with a later cursor are unread


@dataclass(frozen=True)
class Event:
    """A user's action on a side: ``values`` set (create / update) or a delete."""

    side: str
    kind: str  # create | update | delete
    values: dict[str, Any] = field(default_factory=dict)


def _rules(sides: tuple[str, ...]) -> st.SearchStrategy[Rule]:
    return st.one_of(
        st.just(Rule("newest_wins")),
        st.sampled_from(sides).map(lambda s: Rule("system_of_record", side=s)),
        st.just(Rule("version", column=VER)),
    )


class SyncMachine(RuleBasedStateMachine):
    SIDES: tuple[str, ...] = ()
    # What a sync changes (a sync can run on a copy of it).
    _STATE = ("t", "runs", "sides", "states", "pending", "resolutions", "parked", "agreed", "events", "logged",
              "bases", "fresh")  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.t = 0  # syncgate's clock (seconds after EPOCH); a side's clock is t + its skew
        self.counter = 0
        self.sides: dict[str, Side] = {}
        self.states: dict[str, RecordState] = {}
        self.pending: set[tuple[str, str]] = set()
        self.resolutions: dict[str, dict[str, str]] = {}
        self.parked: dict[str, list[Conflict]] = {}
        # Bookkeeping of the users' edits, per record, since its last checkpoint (a completed sync).
        self.agreed: dict[str, dict[str, Any] | None] = {}
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.logged: dict[str, list[Conflict]] = defaultdict(list)
        self.runs = 0
        self.bases: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)  # (run, base) adopted
        self.history: dict[tuple[str, str], set[Any]] = defaultdict(set)  # (key, field) -> every user value
        # (side, key) -> field -> values a user set there that no committed merge has taken in yet;
        # "(deleted)" marks an unmerged delete.
        self.fresh: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(dict)

    # -- setup ---------------------------------------------------------------------------------

    @initialize(data=st.data())
    def configure(self, data: st.DataObject) -> None:
        sides = self.SIDES
        for name in sides:
            optional = data.draw(st.sets(st.sampled_from(OPTIONAL)), label=f"{name} optional fields")
            skew = data.draw(st.sampled_from([0, 0, -2, 3, 90, 200]), label=f"{name} clock skew")
            self.sides[name] = Side(frozenset({"x", VER, *optional}), skew)
        overrides = st.none() | _rules(sides) | st.just(Rule("manual"))
        by_field = {f: data.draw(overrides, label=f"{f} rule") for f in ("x", "y", "z", VER)}
        self.merge_rules = Rules(
            default=data.draw(_rules(sides), label="default rule"),
            tie_break=tuple(data.draw(st.permutations(sides), label="tie_break")),
            fields={f: r for f, r in by_field.items() if r is not None},
            deletes=data.draw(st.sampled_from(["update_wins", "delete_wins"]), label="deletes"),
        )
        # When a side's watermark moves: with its settle, or only once the whole run completed.
        self.policy = data.draw(st.sampled_from(["settle", "end"]), label="watermark policy")
        self.side_fields = {name: side.fields for name, side in self.sides.items()}
        self.all_fields = sorted(set().union(*self.side_fields.values()))

    # -- users ---------------------------------------------------------------------------------

    def _value(self, data: st.DataObject, name: str, key: str, fld: str) -> Any:
        others = [
            s.rows[key][fld] for n, s in self.sides.items() if n != name and key in s.rows and fld in s.fields
        ]
        source = data.draw(st.sampled_from(["new", "pool", "copy"] if others else ["new", "pool"]))
        if source == "pool":
            return data.draw(st.sampled_from(POOL))
        if source == "copy":
            return data.draw(st.sampled_from(others))
        self.counter += 1
        return f"{name}{self.counter}"

    def _touch(self, data: st.DataObject, name: str, key: str, event: Event) -> None:
        self.t += data.draw(st.integers(1, 3), label="seconds later")
        side = self.sides[name]
        side.stamps[key] = self.t + side.skew
        self.events[key].append(event)
        fresh = self.fresh[(name, key)]
        if event.kind == "delete":
            fresh[DELETED] = [True]
        for fld, value in event.values.items():
            self.history[(key, fld)].add(value)
            fresh.setdefault(fld, []).append(value)

    def _held(self) -> list[tuple[str, str]]:
        return [(n, k) for n, s in self.sides.items() for k in sorted(s.rows)]

    def _shared(self) -> list[str]:
        return [k for k in KEYS if sum(k in s.rows for s in self.sides.values()) >= 2]

    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        options = [(n, k) for n, s in self.sides.items() for k in KEYS if k not in s.rows]
        if not options:
            return
        name, key = data.draw(st.sampled_from(options), label="create on")
        side = self.sides[name]
        row = {f: self._value(data, name, key, f) for f in sorted(side.fields - {VER})}
        row[VER] = data.draw(st.integers(1, 3), label="version")
        side.rows[key] = row
        self._touch(data, name, key, Event(name, "create", dict(row)))

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        self._update(data, *data.draw(st.sampled_from(self._held()), label="update on"))

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self._delete(data, *data.draw(st.sampled_from(self._held()), label="delete on"))

    @precondition(lambda self: self._shared())
    @rule(data=st.data())
    def edit_on_two_sides(self, data: st.DataObject) -> None:
        """The same field edited on two or more sides, or a delete on one and edits on others."""
        key = data.draw(st.sampled_from(self._shared()), label="record")
        holders = [n for n, s in self.sides.items() if key in s.rows]
        names = data.draw(st.lists(st.sampled_from(holders), min_size=2, unique=True), label="sides")
        common = sorted(set.intersection(*(set(self.sides[n].fields) for n in names)) - {VER})
        fld = data.draw(st.sampled_from(common), label="field")
        deleter = data.draw(st.sampled_from([None, *names]), label="deleter")
        for name in names:
            if name == deleter:
                self._delete(data, name, key)
            else:
                self._update(data, name, key, [fld])

    def _update(self, data: st.DataObject, name: str, key: str, chosen: list[str] | None = None) -> None:
        side = self.sides[name]
        row = side.rows[key]
        if chosen is None:
            names = sorted(side.fields - {VER})
            chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True), label="fields")
        changes = {f: self._value(data, name, key, f) for f in chosen}
        # Every update bumps the version, as an application would.
        version = row.get(VER)
        changes[VER] = (version if isinstance(version, int) else 0) + data.draw(st.integers(1, 2))
        changes = {f: v for f, v in changes.items() if row.get(f) != v}
        row.update(changes)
        self._touch(data, name, key, Event(name, "update", changes))

    def _delete(self, data: st.DataObject, name: str, key: str) -> None:
        del self.sides[name].rows[key]
        self._touch(data, name, key, Event(name, "delete"))

    @precondition(lambda self: self.parked)
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.parked)), label="resolve")
        chosen = self.resolutions.setdefault(key, {})
        for conflict in self.parked[key]:
            chosen[conflict.field] = data.draw(
                st.sampled_from(sorted(conflict.side_values)), label=conflict.field
            )

    # -- syncgate ------------------------------------------------------------------------------

    @rule(data=st.data())
    def sync(self, data: st.DataObject) -> None:
        order = data.draw(st.permutations(self.SIDES), label="apply order")
        crash = data.draw(
            st.none()
            | st.tuples(
                st.integers(0, len(self.SIDES) - 1), st.sampled_from(["before apply", "before settle"])
            ),
            label="crash",
        )
        if self._sync(order, crash) is None:
            return
        self._check_converged()
        # A second sync right away reads only the echoes of this one's writes: it writes and logs
        # nothing. Mostly it runs on a copy, so that the echoes meet the users' next edits.
        keep = data.draw(st.booleans(), label="keep the second sync")
        saved = None if keep else copy.deepcopy({k: v for k, v in vars(self).items() if k in self._STATE})
        again = self._sync(order, None)
        assert again is not None
        writes = {p.key: p.outcome.writes for p in again if p.outcome.writes}
        conflicts = [(p.key, c) for p in again for c in p.outcome.conflicts]
        assert not writes, f"a second sync wrote {writes}"
        assert not conflicts, f"a second sync logged {conflicts}"
        self._check_converged()
        if saved is not None:
            vars(self).update(saved)

    def _read(self) -> tuple[dict[str, int], dict[str, dict[str, Change]]]:
        marks: dict[str, int] = {}
        changes: dict[str, dict[str, Change]] = {}
        for name, side in self.sides.items():
            marks[name] = self.t + side.skew
            changes[name] = {
                key: Change(dict(side.rows[key]) if key in side.rows else None, stamp(at))
                for key, at in side.stamps.items()
                if side.mark is None or at > side.mark
            }
        return marks, changes

    def _sync(self, order: list[str], crash: tuple[int, str] | None) -> list[Planned] | None:
        """One run; None when it crashed."""
        self.t += 1
        self.runs += 1
        marks, changes = self._read()
        keys = {k for _, k in self.pending} | set(self.resolutions) | {k for c in changes.values() for k in c}
        resolutions = {k: dict(v) for k, v in self.resolutions.items()}
        planned = plan_run(
            self.merge_rules,
            self.side_fields,
            {k: self.states.get(k) or RecordState() for k in keys},
            changes,
            pending={k for _, k in self.pending},
            resolutions=resolutions,
            now=stamp(self.t),
        )
        # The run commits its plan before any side is written: the conflicts, the sides still
        # to write, and each record's adopted base and ledger.
        for p in planned:
            for conflict in p.outcome.conflicts:
                self._check_rule(p, conflict, resolutions.get(p.key, {}))
                self._check_genuine(p, conflict)
                self.logged[p.key].append(conflict)
            self.pending |= {(name, p.key) for name in p.outcome.writes}
            self._check_taken_in(p, self.states.get(p.key))
            self.states[p.key] = adopt(self.states.get(p.key) or RecordState(), p)
            self.resolutions.pop(p.key, None)  # a resolution is used by the run that merges it
            if p.outcome.parked:
                self.parked[p.key] = [c for c in p.outcome.conflicts if c.status == "parked"]
                continue
            self.parked.pop(p.key, None)
            self.bases[p.key].append((self.runs, p.outcome.values or {}))
            for other in self.sides:  # the merge took in every side's edits
                self.fresh.pop((other, p.key), None)
        for index, name in enumerate(order):
            if crash == (index, "before apply"):
                return None
            self.t += 1
            self._apply(name, planned)
            if crash == (index, "before settle"):
                return None
            self._settle(name, planned)
            if self.policy == "settle":
                self.sides[name].mark = marks[name]
        for name, side in self.sides.items():
            side.mark = marks[name]
        return planned

    def _apply(self, name: str, planned: list[Planned]) -> None:
        side = self.sides[name]
        for p in planned:
            write = p.outcome.writes.get(name)
            if write is None:
                continue
            assert set(write.values) <= side.fields, f"{name} was sent fields it lacks: {write}"
            row = side.rows.get(p.key)
            if write.op == "insert":
                assert row is None, f"duplicate insert of {p.key} on {name}"
                side.rows[p.key] = {f: write.values.get(f) for f in side.fields}
            elif write.op == "update":
                assert row is not None, f"update of {p.key}, which {name} does not hold"
                row.update({f: write.values[f] for f in write.changed})
            else:
                assert row is not None, f"delete of {p.key}, which {name} does not hold"
                del side.rows[p.key]
            side.stamps[p.key] = self.t + side.skew

    def _settle(self, name: str, planned: list[Planned]) -> None:
        for p in planned:
            own = Planned(p.key, p.outcome, {name: p.views[name]})
            self.states[p.key] = settle_side(self.states.get(p.key) or RecordState(), name, own, applied=True)
            self.pending.discard((name, p.key))

    # -- properties ----------------------------------------------------------------------------

    def _check_rule(self, p: Planned, c: Conflict, chosen: dict[str, str]) -> None:
        """A conflict is decided by its field's rule (or the user's resolution)."""
        if c.field == RECORD:
            assert c.rule == f"deletes:{self.merge_rules.deletes}" and c.status == "resolved"
            if self.merge_rules.deletes == "delete_wins":
                assert (c.value, p.outcome.values, p.outcome.parked) == (DELETED, None, False)
            else:
                assert c.value == "(live)" and (p.outcome.values is not None or p.outcome.parked)
            return
        rule = self.merge_rules.for_field(c.field)
        assert len({repr(v) for v in c.side_values.values()}) > 1, f"no conflict: {c}"
        if c.status == "parked":
            assert p.outcome.parked and not p.outcome.writes and c.winner is None
            assert rule.kind in ("manual", "version"), c
            return
        assert not p.outcome.parked or any(x.status == "parked" for x in p.outcome.conflicts)
        assert c.winner in c.side_values
        if c.field in chosen and c.rule == "manual":
            assert c.winner == chosen[c.field]
            return
        assert c.rule == rule.kind and rule.kind != "manual", c
        if rule.kind == "system_of_record" and rule.side in c.side_values:
            assert c.winner == rule.side, c
            return
        edits = {s: v for s, v in c.side_values.items() if self._is_edit(p.views[s], c.field, v)}
        if len(edits) < len(c.side_values):
            return  # the base's value competes: its time and version are the base's, not a view's
        assert c.value == edits[c.winner]
        if rule.kind == "version":
            versions = {s: p.views[s].current.get(VER) for s in edits}  # type: ignore[union-attr]
            top = max(versions.values())
            assert versions[c.winner] == top
            assert len({repr(edits[s]) for s, v in versions.items() if v == top}) == 1
            return
        now = stamp(self.t)
        # A time from the future (a clock running ahead) counts as unknown: older than any.
        trusted = {s: (p.views[s].at or "") if (p.views[s].at or "") <= now else "" for s in edits}
        newest = max(edits, key=lambda s: (trusted[s], -self.merge_rules.rank(s)))
        assert c.winner == newest, (c, {s: p.views[s].at for s in edits})

    @staticmethod
    def _check_taken_in(p: Planned, state: RecordState | None) -> None:
        """A run loses no change it read: each side's edit is merged, or a logged conflict overrode it."""
        if p.outcome.parked:
            return
        old = state.merged.values if state and state.merged else None
        new = p.outcome.values
        by_field = {c.field: c for c in p.outcome.conflicts}
        for name, view in p.views.items():
            if view.current is None:
                deleted = view.known is not None and old is not None
                assert not deleted or new is None or RECORD in by_field, f"{p.key}: {name}'s delete lost"
                continue
            edits = [
                f
                for f in view.fields
                if (view.known is None or view.current.get(f) != view.known.get(f))
                and view.current.get(f) != (old or {}).get(f)
            ]
            if not edits:
                continue
            if new is None:
                assert RECORD in by_field, f"{p.key}: {name}'s edits of {edits} lost to a delete"
                continue
            for f in edits:
                value = view.current.get(f)
                overridden = f in by_field and value in by_field[f].side_values.values()
                assert new.get(f) == value or overridden, f"{p.key}.{f}: {name}'s {value!r} lost: {new}"

    @staticmethod
    def _is_edit(view: SideView, fld: str, value: Any) -> bool:
        if view.current is None or view.current.get(fld, _MISSING) != value:
            return False
        return view.known is None or view.known.get(fld, _MISSING) != value

    def _check_genuine(self, p: Planned, c: Conflict) -> None:
        """A conflict involves a user edit no run has merged yet, and no echo of syncgate's writes.

        A value that is not such an edit can only be the base's, standing in for a side left
        behind; it never competes with an edit made with the base's value in hand.
        """
        key = p.key
        if c.field == RECORD:
            ok = any(self.fresh.get((s, key)) for s in c.side_values if s in self.sides)
            assert ok, f"spurious conflict on {key}: {c}; unmerged user edits {dict(self.fresh)}"
            return
        fresh = {s: v in self.fresh.get((s, key), {}).get(c.field, []) for s, v in c.side_values.items()}
        assert any(fresh.values()), f"spurious conflict on {key}: {c}; unmerged user edits {dict(self.fresh)}"
        in_hand = [
            s
            for s, ok in fresh.items()
            if ok and (p.views[s].known or {}).get(c.field, _MISSING) == c.base_value
        ]
        for s, v in c.side_values.items():
            if not fresh[s] and not (c.rule == "manual" and s == c.winner):  # a user's choice stands
                assert v == c.base_value and not in_hand, f"{key}: {s}'s {v!r} is no edit, in conflict {c}"

    def _check_converged(self) -> None:
        assert not self.pending, self.pending
        keys = set(self.states) | {k for s in self.sides.values() for k in s.rows}
        for key in sorted(keys):
            if key in self.parked:
                continue
            state = self.states.get(key)
            merged = state.merged.values if state and state.merged else None
            for name, side in self.sides.items():
                row = side.rows.get(key)
                want = None if merged is None else {f: merged.get(f) for f in side.fields}
                assert row == want, f"{key} on {name}: {row} but merged {merged}"
                known = state.known.get(name) if state else None
                ledger = None if known is None else {f: known.get(f) for f in side.fields}
                assert ledger == row, f"{key}: the ledger says {name} holds {known}, it holds {row}"
            self._check_no_lost_edit(key, merged)
            self.agreed[key] = merged
            self.events.pop(key, None)
            self.logged.pop(key, None)
            self.bases.pop(key, None)

    def _check_no_lost_edit(self, key: str, merged: dict[str, Any] | None) -> None:
        """Each field holds its last user edit, unless a logged conflict overrode that edit."""
        events, logged = self.events.get(key, []), self.logged.get(key, [])
        before = self.agreed.get(key)
        record_conflict = any(c.field == RECORD for c in logged)
        last_kinds = {e.side: e.kind for e in events}
        if last_kinds and all(k == "delete" for k in last_kinds.values()) and merged is not None:
            assert record_conflict, f"{key} deleted on {sorted(last_kinds)} but live: {merged}"
        if last_kinds and all(k != "delete" for k in last_kinds.values()) and merged is None:
            assert record_conflict, f"{key} edited on {sorted(last_kinds)} but deleted"
        if not events and (merged is None) != (before is None):
            raise AssertionError(f"{key} {'deleted' if merged is None else 'created'} with no user action")
        if merged is None:
            return
        # The edits still standing: a side's delete takes its earlier edits with it.
        standing: list[Event] = []
        for event in events:
            if event.kind == "delete":
                standing = [e for e in standing if e.side != event.side]
            else:
                standing.append(event)
        previous = before or {}
        # The bases earlier runs adopted (a crashed run's too), not the one this run merged.
        bases = [previous] if before is not None else []
        bases += [b for run, b in self.bases.get(key, []) if run != self.runs]
        for fld in self.all_fields:
            value = merged.get(fld)
            # Each side's net edit: its last value, unless that is a value the base held since the
            # checkpoint (a side setting the merged value changes nothing, whichever run merged it).
            net = {e.side: (i, e.values[fld]) for i, e in enumerate(standing) if fld in e.values}
            ordered = [(n, v) for n, (_, v) in sorted(net.items(), key=lambda nv: nv[1][0])]
            sets = [(n, v) for n, v in ordered if all(v != b.get(fld) for b in bases)]
            if sets:
                editor, last = sets[-1]
                # Overridden by a conflict on the field, or by a delete that won against its side.
                overridden = any(c.field == fld and last in c.side_values.values() for c in logged) or any(
                    c.field == RECORD and c.value == DELETED and editor in c.side_values for c in logged
                )
                assert value == last or overridden, f"{key}.{fld}: edit {last!r} lost, holds {value!r}"
            elif before is not None and not ordered and all(e.kind == "update" for e in events):
                assert value == previous.get(fld), f"{key}.{fld} changed to {value!r} with no edit"
            else:
                assert value is None or value in self.history[(key, fld)], f"{key}.{fld}: invented {value!r}"


class TwoSides(SyncMachine):
    SIDES = ("a", "b")


class ThreeSides(SyncMachine):
    SIDES = ("a", "b", "c")


_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestTwoSides = TwoSides.TestCase
TestTwoSides.settings = _SETTINGS
TestThreeSides = ThreeSides.TestCase
TestThreeSides.settings = _SETTINGS
