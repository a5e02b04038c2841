"""A flow page's conflicts section as rendered: a sync flow's sides, counts, parked rows, form."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request

from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec
from syncgate.ui.auth import Viewer
from syncgate.ui.conflicts import ConflictsView
from syncgate.ui.health import blank
from syncgate.ui.pages import render
from syncgate.ui.queries import Page

pytestmark = pytest.mark.unit

SIDE = {"type": "postgres", "table": "public.t", "primary_key": ["id"], "cursor": "updated_at"}
SYNC = SyncSpec.model_validate(
    {
        "id": "people",
        "mode": "two_way",
        "sides": {"erp": {**SIDE, "conn_id": "erp_db"}, "crm": {**SIDE, "conn_id": "crm_db"}},
    }
)
ONE_WAY = FlowSpec.model_validate(
    {
        "id": "orders",
        "source": {**SIDE, "conn_id": "a_db"},
        "target": {"type": "postgres", "conn_id": "b_db", "table": "public.o"},
    }
)
WHEN = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
PARKED = {
    "id": 41, "run_id": "scheduled__1", "record_key": "[1]", "field": "tier", "rule": "manual", "status": "parked",
    "winner": None, "value": None, "base_value": "gold", "side_values": {"erp": "<b>silver</b>", "crm": "bronze"},
    "detected_at": WHEN, "resolution": None, "resolved_by": None,
}  # fmt: skip


def page(
    spec: SyncSpec | FlowSpec,
    conflicts: ConflictsView | None,
    *,
    can_resolve: bool,
    resolved: int | None = None,
) -> str:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "root_path": "/syncgate"})
    response = render(
        request, "flow.html", spec=spec, sync=isinstance(spec, SyncSpec), health=blank(spec), history=None,
        rejected=None, conflicts=conflicts, can_resolve=can_resolve, csrf_field="csrf_token", csrf_token="T" * 43,
        resolved=resolved, error=None, has_docs=False, validations=[], viewer=Viewer.everyone("ana"),
        triggers=[], events=[], slot=None,
    )  # fmt: skip
    return bytes(response.body).decode()


def view(*parked: dict[str, object]) -> ConflictsView:
    return ConflictsView(
        sides=["erp", "crm"], latest_run="scheduled__1", total=3, parked_count=len(parked),
        by_field_rule=[{"field": "tier", "rule": "manual", "count": 1}, {"field": "name", "rule": "newest_wins", "count": 2}],
        parked=Page(list(parked), len(parked), 1, 100), log=Page(list(parked), len(parked), 1, 25),
    )  # fmt: skip


def test_a_sync_flow_shows_its_sides_instead_of_source_and_target() -> None:
    html = page(SYNC, view(), can_resolve=False)
    assert 'data-side="erp"><strong>erp</strong> postgres <code>erp_db</code>' in html
    assert "<dt>Source</dt>" not in html and "two-way" in html


def test_counts_by_field_and_rule_and_the_parked_rows_with_a_resolve_form() -> None:
    html = page(SYNC, view(PARKED), can_resolve=True)
    assert 'id="conflicts-total">3<' in html and 'data-field="name" data-rule="newest_wins"' in html
    assert 'action="/syncgate/flows/people/conflicts/41/resolve"' in html
    assert 'name="csrf_token" value="' + "T" * 43 in html
    assert '<option value="erp">erp: &#34;&lt;b&gt;silver&lt;/b&gt;&#34;</option>' in html  # escaped
    assert "<b>silver</b>" not in html


def test_without_edit_rights_there_is_no_form_but_the_way_to_resolve_is_named() -> None:
    html = page(SYNC, view(PARKED), can_resolve=False)
    assert "<form" not in html and "needs edit rights" in html and "conflicts resolve" in html


def test_a_chosen_side_and_the_notice_after_resolving() -> None:
    html = page(
        SYNC, view({**PARKED, "resolution": "crm", "resolved_by": "ana"}), can_resolve=True, resolved=41
    )
    assert '<span class="chosen">crm</span> <span class="muted">by ana' in html
    assert '<option value="crm" selected>' in html and 'id="resolved-notice"' in html


def test_empty_states() -> None:
    html = page(SYNC, ConflictsView(sides=["erp", "crm"]), can_resolve=True)
    assert 'id="parked-none"' in html and 'id="conflict-log-none"' in html and "No run yet." in html
    one_way = page(ONE_WAY, None, can_resolve=False)
    assert 'id="conflicts-empty"' in one_way and "one-way flow" in one_way and "<dt>Source</dt>" in one_way
