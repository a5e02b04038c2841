"""A sync flow in the UI: its sides, its run's conflicts, the parked ones and the resolve action.

State is seeded in a real PostgreSQL state database (audit row + conflict log as the reconcile
stage writes them); the app runs with auth satisfied by a dependency override, as in
``test_ui_app.py``. The resolve action writes through the function the CLI calls.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from ui_seed import mounted

from syncgate.state.schema import ensure_state_schema
from syncgate.ui import csrf
from syncgate.ui.auth import Viewer

pytestmark = pytest.mark.integration

FLOW = "customers_sync"
RUN = "scheduled__2026-12-01T10:00:00+00:00"
HASHED = "hmac:" + "ab" * 32
SPEC = {
    "id": FLOW,
    "mode": "two_way",
    "description": "ERP customers <-> CRM contacts",
    "tags": ["crm"],
    "sides": {
        "erp": {"type": "postgres", "conn_id": "src_db", "table": "public.customers", "primary_key": ["id"],
                "cursor": "updated_at"},
        "crm": {"type": "postgres", "conn_id": "dst_db", "table": "public.contacts", "primary_key": ["id"],
                "cursor": "modified_at"},
    },
    "conflicts": {"fields": {"tier": "manual"}},
    "pii": ["email"],
}  # fmt: skip
ONE_WAY = {
    "id": "orders_one_way",
    "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"]},
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "public.orders_copy"},
}
COUNTS = {
    "total": 3,
    "parked": 1,
    "by_field_rule": [
        {"field": "email", "rule": "newest_wins", "count": 1},
        {"field": "name", "rule": "newest_wins", "count": 1},
        {"field": "tier", "rule": "manual", "count": 1},
    ],
}
SEED = """
INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, rows_extracted, rows_updated, conflicts,
    started_at, finished_at)
VALUES (%(flow)s, 'scheduled__old', 'scheduled', 'success', 4, 4, NULL, now() - interval '2 hours', now() - interval '2 hours'),
       (%(flow)s, %(run)s, 'scheduled', 'success', 6, 2, %(counts)s, now() - interval '5 minutes', now() - interval '4 minutes');
INSERT INTO syncgate.sync_conflicts (flow_id, run_id, record_key, field, base_value, side_values, rule, winner,
    value, status, detected_at)
VALUES (%(flow)s, 'scheduled__old', '[9]', 'name', '"Old"', '{"erp": "Old E", "crm": "Old C"}', 'newest_wins',
        'crm', '"Old C"', 'resolved', now() - interval '2 hours'),
       (%(flow)s, %(run)s, '[1]', 'tier', '"gold"', '{"erp": "silver", "crm": "bronze"}', 'manual', NULL, NULL,
        'parked', now() - interval '5 minutes'),
       (%(flow)s, %(run)s, '[2]', 'email', %(hashed)s, %(emails)s, 'newest_wins', 'crm', %(hashed)s,
        'resolved', now() - interval '4 minutes');
"""


@pytest.fixture
def state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{FLOW}.yml").write_text(json.dumps(SPEC))
    (flows / "orders_one_way.yml").write_text(json.dumps(ONE_WAY))
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    with psycopg.connect(databases["src"]) as conn:  # the first postgres side holds the state
        ensure_state_schema(conn)
        params = {"flow": FLOW, "run": RUN, "counts": json.dumps(COUNTS), "hashed": json.dumps(HASHED),
                  "emails": json.dumps({"erp": HASHED, "crm": "hmac:" + "cd" * 32})}  # fmt: skip
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
    return databases["src"]


def conflict(url: str, record_key: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id, status, resolution, resolved_by FROM syncgate.sync_conflicts WHERE flow_id = %s AND record_key = %s",
            (FLOW, record_key),
        ).fetchone()
    assert row is not None
    return row


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<table id="{element_id}">.*?</table>', html, re.S)
    assert match, f"no table {element_id}"
    return match.group(0)


def test_health_lists_sync_flows_with_their_conflict_total(state: str) -> None:
    client = TestClient(mounted())
    page = client.get("/syncgate/")
    assert page.status_code == 200
    row = re.search(rf'<tr id="flow-{FLOW}".*?</tr>', page.text, re.S)
    assert row and "two-way" in row.group(0) and ">3</td>" in row.group(0)  # the total, not total + parked
    flows = {f["flow_id"]: f for f in client.get("/syncgate/api/health.json").json()["flows"]}
    assert flows[FLOW]["mode"] == "two_way" and flows[FLOW]["conflicts"] == 3
    assert flows[FLOW]["freshness"] == "none" and flows["orders_one_way"]["mode"] == "one_way"


def test_flow_page_shows_sides_counts_parked_and_the_log(state: str) -> None:
    client = TestClient(mounted(Viewer.everyone("editor", edit=True)))
    page = client.get(f"/syncgate/flows/{FLOW}")
    assert page.status_code == 200, page.text
    assert (
        'data-side="erp"' in page.text
        and 'data-side="crm"' in page.text
        and "<code>dst_db</code>" in page.text
    )
    counts = section(page.text, "conflict-counts")
    assert re.findall(r'data-field="(\w+)" data-rule="(\w+)"', counts) == [
        ("email", "newest_wins"),
        ("name", "newest_wins"),
        ("tier", "manual"),
    ]
    assert 'id="conflicts-total">3<' in page.text and 'id="conflicts-parked-count">1<' in page.text
    parked = section(page.text, "parked-conflicts")
    assert parked.count("<tr data-conflict=") == 1 and "<code>[1]</code>" in parked
    assert '<form class="resolve" method="post"' in parked and f'name="{csrf.FIELD}"' in parked
    assert 'value="erp"' in parked and 'value="crm"' in parked
    log = section(page.text, "conflict-rows")
    assert re.findall(r"<td><code>(\[\d\])</code></td>", log) == ["[2]", "[1]", "[9]"]  # newest first
    assert HASHED in log and "@" not in log  # pii values only as the keyed hashes the log holds
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert csrf.COOKIE in page.cookies


def test_resolving_in_the_ui_needs_edit_rights_and_a_same_site_form(state: str) -> None:
    parked_id, *_ = conflict(state, "[1]")
    action = f"/syncgate/flows/{FLOW}/conflicts/{parked_id}/resolve"

    reader = TestClient(mounted(Viewer.everyone("reader")))
    page = reader.get(f"/syncgate/flows/{FLOW}")
    assert "<form" not in page.text and "needs edit rights" in page.text
    refused = reader.post(action, data={"side": "crm"})
    assert refused.status_code == 403 and "needs edit rights" in refused.text

    editor = TestClient(mounted(Viewer.everyone("editor", edit=True)))
    token = re.search(rf'name="{csrf.FIELD}" value="([^"]+)"', editor.get(f"/syncgate/flows/{FLOW}").text)
    assert token
    assert editor.post(action, data={"side": "crm"}).status_code == 403  # no token in the form
    assert editor.post(action, data={"side": "crm", csrf.FIELD: "x" * 43}).status_code == 403
    cross = editor.post(
        action, data={"side": "crm", csrf.FIELD: token.group(1)}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    unknown = editor.post(action, data={"side": "billing", csrf.FIELD: token.group(1)})
    assert unknown.status_code == 409 and "has no side &#39;billing&#39;" in unknown.text
    assert conflict(state, "[1]")[1:] == ("parked", None, None)

    done = editor.post(action, data={"side": "crm", csrf.FIELD: token.group(1)}, follow_redirects=False)
    assert (
        done.status_code == 303
        and done.headers["location"] == f"/syncgate/flows/{FLOW}?resolved={parked_id}#conflicts"
    )
    assert conflict(state, "[1]")[1:] == ("parked", "crm", "editor")
    after = editor.get(done.headers["location"])
    assert 'id="resolved-notice"' in after.text and '<span class="chosen">crm</span>' in after.text

    resolved_id, *_ = conflict(state, "[2]")
    again = editor.post(
        f"/syncgate/flows/{FLOW}/conflicts/{resolved_id}/resolve",
        data={"side": "erp", csrf.FIELD: token.group(1)},
    )
    assert again.status_code == 409 and "is resolved, not parked" in again.text
    other = editor.post(f"/syncgate/flows/orders_one_way/conflicts/{parked_id}/resolve", data={"side": "crm"})
    assert other.status_code == 404
