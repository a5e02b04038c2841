"""Findings of an adversarial review on the pure parts of two-way sync (merge, spec, mapping),
kept as regression tests: a fast clock, unreadable value maps, match values typed differently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncgate.reconcile.merge import Merged, Rule, Rules, SideView, merge
from syncgate.reconcile.records import SideMapping
from syncgate.reconcile.values import canonical
from syncgate.spec.sync_model import SyncSpec

pytestmark = pytest.mark.unit


def spec(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "people",
        "mode": "two_way",
        "sides": {
            "erp": {"type": "postgres", "conn_id": "erp_db", "table": "public.people", "primary_key": ["id"],
                    "cursor": "updated_at"},
            "crm": {"type": "postgres", "conn_id": "crm_db", "table": "public.contacts", "primary_key": ["id"],
                    "cursor": "modified_at"},
        },
        "match": ["id"],
        "fields": {"id": {}, "name": {}, "tier": {}},
        **overrides,
    }  # fmt: skip


def at(moment: datetime) -> str:
    return str(canonical(moment))


def test_a_side_whose_clock_runs_ahead_does_not_win_every_conflict() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    fields = frozenset({"id", "name"})
    base = {"id": 1, "name": "Ada"}
    rules = Rules(Rule("newest_wins"), ("fast", "honest"))
    winners = set()
    # The fast side's clock runs an hour ahead: its edit, made 55 minutes ago, is stamped in the
    # future. The honest side edits the same field later, anywhere in the last 50 minutes.
    for minutes in range(1, 50):
        sides = {
            "fast": SideView(
                fields, base, {"id": 1, "name": "fast"}, at(now - timedelta(minutes=55) + timedelta(hours=1))
            ),
            "honest": SideView(
                fields, base, {"id": 1, "name": "honest"}, at(now - timedelta(minutes=minutes))
            ),
        }
        outcome = merge(Merged(base), sides, rules, now=at(now))
        winners.add(outcome.conflicts[0].winner)
    assert winners != {"fast"}, "the side whose clock runs ahead won every conflict"


@pytest.mark.parametrize(
    "table",
    [
        pytest.param({"gold": "1", "platinum": "1"}, id="two-common-values-one-side-value"),
        pytest.param({"gold": "1", "unknown": None}, id="a-common-value-mapped-to-null"),
    ],
)
def test_a_map_values_table_that_cannot_be_read_back_is_refused(table: dict[str, Any]) -> None:
    raw = spec(map_values={"crm": {"tier": table}})
    try:
        loaded = SyncSpec.model_validate(raw)
    except ValueError:
        return
    # Accepted: then every common value must come back from the side as itself.
    lost = {v: loaded.inbound("crm", "tier", loaded.outbound("crm", "tier", v)) for v in table}
    assert all(back == v for v, back in lost.items()), f"written -> read back: {lost}"


def test_a_match_value_typed_differently_on_two_sides_is_one_record() -> None:
    loaded = SyncSpec.model_validate(spec())
    erp = SideMapping(loaded, "erp", {"id": "id", "name": "name"}, {"id": "integer", "name": "text"})
    crm = SideMapping(loaded, "crm", {"id": "id", "name": "name"}, {"id": "text", "name": "text"})
    erp_key = erp.record_key(erp.to_common({"id": 1, "name": "Ada"}))
    crm_key = crm.record_key(crm.to_common({"id": "1", "name": "Ada"}))
    assert erp_key == crm_key
