"""The three-way merge of one record: clean merges, each conflict rule, deletes, echoes, parking."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.reconcile.merge import (
    DELETED,
    RECORD,
    Merged,
    Origin,
    Outcome,
    Rule,
    Rules,
    SideView,
    Write,
    merge,
)

pytestmark = pytest.mark.unit

NOW = "2026-03-01T12:00:00Z"
EARLY = "2026-03-01T09:00:00Z"
LATE = "2026-03-01T10:00:00Z"
AB = frozenset({"name", "tier", "ver"})
NEWEST = Rules(default=Rule("newest_wins"), tie_break=("a", "b", "c"))


def side(
    known: dict[str, Any] | None,
    current: dict[str, Any] | None = None,
    at: str | None = None,
    fields: frozenset[str] = AB,
) -> SideView:
    """A side holding ``known`` (what syncgate last saw) and now ``current`` (default: unchanged)."""
    return SideView(fields, known, known if current is None and at is None else current, at)


def base(**values: Any) -> Merged:
    return Merged(values, {f: Origin("a", EARLY) for f in values})


def run(base_: Merged | None, rules: Rules = NEWEST, **sides: SideView) -> Outcome:
    return merge(base_, sides, rules, now=NOW)


ROW = {"name": "Ada", "tier": "gold", "ver": 1}


def edited(**changes: Any) -> dict[str, Any]:
    return {**ROW, **changes}


def test_edits_to_different_fields_merge_without_a_conflict() -> None:
    out = run(base(**ROW), a=side(ROW, edited(name="Ada L"), EARLY), b=side(ROW, edited(tier="silver"), LATE))
    assert out.values == {"name": "Ada L", "tier": "silver", "ver": 1}
    assert out.conflicts == []
    assert out.writes == {
        "a": Write("update", out.values, ("tier",)),
        "b": Write("update", out.values, ("name",)),
    }


def test_the_same_value_written_on_two_sides_is_no_conflict_and_needs_no_write() -> None:
    out = run(
        base(**ROW), a=side(ROW, edited(tier="silver"), EARLY), b=side(ROW, edited(tier="silver"), LATE)
    )
    assert out.values == edited(tier="silver")
    assert (out.conflicts, out.writes) == ([], {})


def test_a_record_with_no_edits_anywhere_writes_nothing_and_logs_nothing() -> None:
    out = run(base(**ROW), a=side(ROW), b=side(ROW))
    assert out.values == ROW
    assert (out.writes, out.conflicts, out.parked) == ({}, [], False)


def test_the_echo_of_syncgates_own_write_is_no_edit_whatever_time_the_side_stamped_on_it() -> None:
    # b received "silver" from syncgate last run; its cursor moved, its content did not.
    merged = edited(tier="silver")
    out = run(base(**merged), a=side(merged), b=side(merged, merged, LATE))
    assert (out.values, out.writes, out.conflicts) == (merged, {}, [])


def test_newest_wins_takes_the_later_change() -> None:
    out = run(
        base(**ROW), a=side(ROW, edited(tier="silver"), LATE), b=side(ROW, edited(tier="bronze"), EARLY)
    )
    assert out.values == edited(tier="silver")
    (conflict,) = out.conflicts
    assert (conflict.field, conflict.rule, conflict.winner, conflict.value, conflict.status) == (
        "tier",
        "newest_wins",
        "a",
        "silver",
        "resolved",
    )
    assert conflict.base_value == "gold"
    assert conflict.side_values == {"a": "silver", "b": "bronze"}
    assert out.writes == {"b": Write("update", out.values, ("tier",))}


def test_equal_change_times_go_to_the_side_listed_first_in_tie_break() -> None:
    views = {"a": side(ROW, edited(tier="silver"), LATE), "b": side(ROW, edited(tier="bronze"), LATE)}
    a_first = merge(base(**ROW), views, Rules(Rule("newest_wins"), ("a", "b")), now=NOW)
    b_first = merge(base(**ROW), views, Rules(Rule("newest_wins"), ("b", "a")), now=NOW)
    assert (a_first.values["tier"], b_first.values["tier"]) == ("silver", "bronze")


def test_a_change_time_in_the_future_counts_as_unknown() -> None:
    # Both clocks run ahead: neither time is trusted, the two changes tie and tie_break decides.
    views = {
        "a": side(ROW, edited(tier="silver"), "2027-01-01T00:00:00Z"),
        "b": side(ROW, edited(tier="bronze"), "2027-06-01T00:00:00Z"),
    }
    out = merge(base(**ROW), views, Rules(Rule("newest_wins"), ("a", "b")), now=NOW)
    assert out.values["tier"] == "silver"
    assert out.origins["tier"] == Origin("a", None)


def test_a_change_without_a_time_is_older_than_one_with_a_time() -> None:
    out = run(
        base(**ROW), a=side(ROW, edited(tier="silver"), None), b=side(ROW, edited(tier="bronze"), EARLY)
    )
    assert out.values["tier"] == "bronze"


def test_system_of_record_wins_a_conflict_even_with_the_older_change() -> None:
    rules = Rules(Rule("newest_wins"), ("a", "b", "c"), fields={"tier": Rule("system_of_record", side="b")})
    out = run(
        base(**ROW),
        rules,
        a=side(ROW, edited(tier="silver"), LATE),
        b=side(ROW, edited(tier="bronze"), EARLY),
    )
    assert out.values["tier"] == "bronze"
    assert (out.conflicts[0].rule, out.conflicts[0].winner) == ("system_of_record", "b")


def test_system_of_record_not_among_the_conflicting_sides_falls_back_to_the_newest_change() -> None:
    rules = Rules(Rule("system_of_record", side="c"), ("a", "b", "c"))
    out = run(
        base(**ROW),
        rules,
        a=side(ROW, edited(tier="silver"), EARLY),
        b=side(ROW, edited(tier="bronze"), LATE),
        c=side(ROW),
    )
    assert out.values["tier"] == "bronze"
    assert out.writes["c"].changed == ("tier",)


def test_an_edit_of_a_field_the_system_of_record_did_not_touch_is_kept() -> None:
    rules = Rules(Rule("system_of_record", side="b"), ("a", "b"))
    out = run(
        base(**ROW), rules, a=side(ROW, edited(name="Ada L"), LATE), b=side(ROW, edited(tier="bronze"), EARLY)
    )
    assert out.values == edited(name="Ada L", tier="bronze")
    assert out.conflicts == []


VERSIONED = Rules(Rule("version", column="ver"), ("a", "b"))


def test_version_the_higher_version_wins_even_with_the_older_change() -> None:
    out = run(
        base(**ROW),
        VERSIONED,
        a=side(ROW, edited(tier="silver", ver=2), LATE),
        b=side(ROW, edited(tier="bronze", ver=3), EARLY),
    )
    assert out.values == edited(tier="bronze", ver=3)
    assert {c.field: c.winner for c in out.conflicts} == {"tier": "b", "ver": "b"}
    assert out.writes == {"a": Write("update", out.values, ("tier", "ver"))}


@pytest.mark.parametrize(("ver_a", "ver_b"), [(2, 2), (None, 3), ("2", 3)])
def test_version_equal_or_missing_versions_park_the_record(ver_a: Any, ver_b: Any) -> None:
    out = run(
        base(**ROW),
        Rules(Rule("newest_wins"), ("a", "b"), fields={"tier": Rule("version", column="ver")}),
        a=side(ROW, edited(tier="silver", ver=ver_a), LATE),
        b=side(ROW, edited(tier="bronze", ver=ver_b), EARLY),
    )
    assert out.parked
    assert (out.values, out.writes) == (ROW, {})
    assert [(c.field, c.status, c.winner) for c in out.conflicts] == [("tier", "parked", None)]


MANUAL = Rules(Rule("newest_wins"), ("a", "b"), fields={"tier": Rule("manual")})


def test_a_manual_conflict_parks_the_whole_record_and_writes_nothing() -> None:
    out = run(
        base(**ROW),
        MANUAL,
        a=side(ROW, edited(tier="silver", name="Ada L"), LATE),
        b=side(ROW, edited(tier="bronze"), EARLY),
    )
    assert out.parked
    assert (out.values, out.origins, out.writes) == (ROW, base(**ROW).origins, {})
    (conflict,) = out.conflicts
    assert (conflict.field, conflict.rule, conflict.status, conflict.side_values) == (
        "tier",
        "manual",
        "parked",
        {"a": "silver", "b": "bronze"},
    )


def test_a_manual_field_edited_on_one_side_only_merges_cleanly() -> None:
    out = run(base(**ROW), MANUAL, a=side(ROW, edited(tier="silver"), LATE), b=side(ROW))
    assert (out.parked, out.values["tier"], out.conflicts) == (False, "silver", [])


def test_a_resolution_chooses_the_side_whose_value_a_parked_field_takes() -> None:
    views = {
        "a": side(ROW, edited(tier="silver", name="Ada L"), LATE),
        "b": side(ROW, edited(tier="bronze"), EARLY),
    }
    out = merge(base(**ROW), views, MANUAL, now=NOW, resolutions={"tier": "b"})
    assert not out.parked
    assert out.values == edited(tier="bronze", name="Ada L")
    (conflict,) = out.conflicts
    assert (conflict.rule, conflict.winner, conflict.value, conflict.status) == (
        "manual",
        "b",
        "bronze",
        "resolved",
    )
    assert out.writes == {
        "a": Write("update", out.values, ("tier",)),
        "b": Write("update", out.values, ("name",)),
    }


def test_a_resolution_overrides_a_version_park_too() -> None:
    views = {
        "a": side(ROW, edited(tier="silver", ver=2), LATE),
        "b": side(ROW, edited(tier="bronze", ver=2), EARLY),
    }
    out = merge(base(**ROW), views, VERSIONED, now=NOW, resolutions={"tier": "a"})
    assert (out.parked, out.values["tier"]) == (False, "silver")


def test_delete_against_update_restores_the_record_when_updates_win() -> None:
    out = run(base(**ROW), a=side(ROW, None, EARLY), b=side(ROW, edited(tier="silver"), LATE))
    assert out.values == edited(tier="silver")
    assert out.writes == {"a": Write("insert", out.values, ("name", "tier", "ver"))}
    (conflict,) = out.conflicts
    assert (conflict.field, conflict.rule, conflict.winner, conflict.value) == (
        RECORD,
        "deletes:update_wins",
        "b",
        "(live)",
    )
    assert conflict.side_values == {"a": DELETED, "b": "(updated)"}


def test_delete_against_update_deletes_the_record_when_deletes_win() -> None:
    rules = Rules(Rule("newest_wins"), ("a", "b"), deletes="delete_wins")
    out = run(base(**ROW), rules, a=side(ROW, None, EARLY), b=side(ROW, edited(tier="silver"), LATE))
    assert out.values is None
    assert out.writes == {"b": Write("delete", {}, ())}
    assert [(c.field, c.winner, c.value) for c in out.conflicts] == [(RECORD, "a", DELETED)]


def test_a_delete_on_one_side_deletes_the_record_everywhere_without_a_conflict() -> None:
    out = run(base(**ROW), a=side(ROW, None, EARLY), b=side(ROW), c=side(ROW))
    assert out.values is None
    assert out.writes == {"b": Write("delete", {}, ()), "c": Write("delete", {}, ())}
    assert out.conflicts == []


def test_an_update_from_a_side_that_missed_the_delete_competes_with_it() -> None:
    # The base is deleted, but b never received the delete (its apply failed) and edited the record.
    gone = Merged(None, base(**ROW).origins)
    out = run(gone, a=side(None), b=side(ROW, edited(tier="silver"), LATE))
    assert out.values == edited(tier="silver")
    assert out.writes == {"a": Write("insert", out.values, ("name", "tier", "ver"))}
    assert [(c.field, c.base_value, c.value) for c in out.conflicts] == [(RECORD, DELETED, "(live)")]


def test_a_delete_of_an_older_version_than_the_base_competes_with_the_base() -> None:
    # b deleted the record before receiving the base's update from a.
    rules = Rules(Rule("newest_wins"), ("a", "b"), deletes="delete_wins")
    out = run(base(**edited(tier="silver")), rules, a=side(edited(tier="silver")), b=side(ROW, None, LATE))
    assert out.values is None
    assert [c.field for c in out.conflicts] == [RECORD]


def test_a_new_record_is_inserted_on_every_other_side_in_each_sides_fields() -> None:
    narrow = frozenset({"name", "ver"})
    out = run(None, a=side(None, ROW, LATE), b=side(None), c=side(None, fields=narrow))
    assert out.values == ROW
    assert out.writes == {
        "b": Write("insert", ROW, ("name", "tier", "ver")),
        "c": Write("insert", {"name": "Ada", "ver": 1}, ("name", "ver")),
    }


def test_the_same_record_created_on_two_sides_merges_field_by_field() -> None:
    out = run(
        None,
        a=side(None, {"name": "Ada", "tier": "gold"}, EARLY, frozenset({"name", "tier"})),
        b=side(None, {"name": "Ada", "ver": 4}, LATE, frozenset({"name", "ver"})),
    )
    assert out.values == {"name": "Ada", "tier": "gold", "ver": 4}
    assert out.conflicts == []
    assert out.writes == {}


def test_a_side_without_a_field_neither_proposes_nor_receives_it() -> None:
    narrow = frozenset({"name", "ver"})
    out = run(
        base(**ROW),
        a=side(ROW, edited(tier="silver"), LATE),
        c=side({"name": "Ada", "ver": 1}, {"name": "Ada L", "ver": 1}, EARLY, narrow),
    )
    assert out.values == edited(tier="silver", name="Ada L")
    assert out.writes == {"a": Write("update", out.values, ("name",))}


def test_an_edit_from_a_side_left_behind_competes_with_the_bases_value() -> None:
    # b never received "silver" (a failed apply); its later edit is concurrent with a's, not newer.
    rules = Rules(Rule("system_of_record", side="a"), ("a", "b"))
    merged = Merged(edited(tier="silver"), {"tier": Origin("a", EARLY)})
    out = run(merged, rules, a=side(edited(tier="silver")), b=side(ROW, edited(tier="bronze"), LATE))
    assert out.values["tier"] == "silver"
    assert [(c.field, c.winner) for c in out.conflicts] == [("tier", "a")]
    assert out.writes == {"b": Write("update", out.values, ("tier",))}


def test_a_side_left_behind_catching_up_to_the_base_proposes_nothing() -> None:
    # b holds the base's value now (syncgate wrote it, but the ledger update was lost): no edit of b's
    # competes with c's real edit.
    merged = Merged(edited(tier="silver"), {"tier": Origin("a", EARLY)})
    out = run(
        merged,
        a=side(edited(tier="silver")),
        b=side(ROW, edited(tier="silver"), "2026-03-01T11:30:00Z"),
        c=side(edited(tier="silver"), edited(tier="bronze"), LATE),
    )
    assert out.values["tier"] == "bronze"
    assert out.conflicts == []


def test_a_restored_record_is_what_the_sides_still_holding_it_held_with_the_edits() -> None:
    # The base is deleted; b and c never received the delete, c edited the name (c lacks `tier`).
    narrow = frozenset({"name", "ver"})
    gone = Merged(None, base(**ROW).origins)
    out = run(
        gone,
        a=side(None),
        b=side(ROW),
        c=side({"name": "Ada", "ver": 1}, {"name": "Ada L", "ver": 1}, LATE, narrow),
    )
    assert out.values == edited(name="Ada L")
    assert out.writes == {
        "a": Write("insert", out.values, ("name", "tier", "ver")),
        "b": Write("update", out.values, ("name",)),
    }


def test_the_side_a_base_value_came_from_supersedes_it_with_its_own_later_edit() -> None:
    # a wrote "gold" (the base's origin), then lost the record on its side and created it anew:
    # its new value is a's own later edit, not a conflict with its old one.
    merged = Merged(ROW, {"tier": Origin("a", EARLY)})
    out = run(merged, a=side(None, edited(tier="silver"), LATE), b=side(ROW))
    assert out.values == edited(tier="silver")
    assert out.conflicts == []
