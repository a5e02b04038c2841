"""UI queries against seeded state in real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from ui_seed import PII_EMAIL, prepare_ui_state

from syncgate.ui import queries
from syncgate.ui.flows import current_flows
from syncgate.ui.health import flow_health

pytestmark = pytest.mark.integration


@pytest.fixture
def ui_state(databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return prepare_ui_state(databases, tmp_path, monkeypatch)


def _health(flow_ids: list[str] | None = None) -> dict[str, object]:
    specs = current_flows().specs
    chosen = [specs[f] for f in (flow_ids or sorted(specs))]
    return {h.flow_id: h for h in flow_health(chosen)}


def test_health_reads_latest_run_success_freshness_trend_and_incidents(ui_state: dict[str, str]) -> None:
    health = _health()
    ok = health["orders_ok"]
    assert (ok.status, ok.last_run_id) == ("success", "scheduled__run_30")
    assert ok.rows_moved == 16 and ok.rows_extracted == 130
    assert (ok.freshness, ok.freshness_colour, ok.lag_seconds) == ("ok", "green", 360)
    assert ok.lag_trend == [60 + g * 10 for g in range(11, 31)]  # the last 20 runs, oldest first
    assert ok.conflicts == 3 and ok.incidents == []
    assert ok.last_success == ok.last_run_finished

    late = health["customers_late"]
    assert late.status == "failed" and late.rows_moved is None  # it never wrote
    assert late.last_success is not None and late.last_success < late.last_run_started
    assert (late.freshness, late.freshness_colour, late.lag_seconds) == ("warn", "amber", 4500)
    assert [(i["kind"], i["summary"]) for i in late.incidents] == [
        ("freshness", "customers data is 1h 15m old")
    ]

    breach = health["products_breach"]  # no freshness row: the audit verdict counts
    assert (breach.freshness, breach.freshness_colour, breach.conflicts) == ("breach", "red", 1)
    assert [i["severity"] for i in breach.incidents] == ["critical"]

    never = health["never_run"]
    assert (never.status, never.freshness, never.freshness_colour, never.conflicts) == (
        "pending first sync",
        "none",
        "grey",
        0,
    )
    assert never.last_run_id is None and never.lag_trend == []


def test_an_unreachable_state_database_marks_only_its_flows(ui_state: dict[str, str]) -> None:
    health = _health()
    down = health["remote_down"]
    assert down.status == "unknown" and down.error == "state database 'gone_db' is unreachable"
    assert all(h.error is None for fid, h in health.items() if fid != "remote_down")


def test_flows_without_state_schema_show_as_pending_first_sync(ui_state: dict[str, str]) -> None:
    with psycopg.connect(ui_state["dst"], autocommit=True) as conn:
        conn.execute("DROP SCHEMA syncgate CASCADE")
    health = _health(["orders_ok", "never_run"])
    assert {h.status for h in health.values()} == {"pending first sync"}
    assert all(h.error is None for h in health.values())


def test_history_and_rejected_records_page_newest_first(ui_state: dict[str, str]) -> None:
    with queries.read_only("dst_db") as conn:
        assert conn is not None
        first = queries.run_history(conn, "orders_ok", 1, 25)
        second = queries.run_history(conn, "orders_ok", 2, 25)
        beyond = queries.run_history(conn, "orders_ok", 9, 25)
        rejected = queries.rejected_records(conn, "customers_late", 2, 25)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (30, 2, 25, 5)
    assert first.rows[0]["run_id"] == "scheduled__run_30" and second.rows[-1]["run_id"] == "scheduled__run_01"
    assert first.rows[0]["conflicts"] == 3 and first.rows[0]["rows_moved"] == 16
    assert beyond.rows == [] and beyond.total == 30
    assert (rejected.total, len(rejected.rows)) == (30, 5)
    assert rejected.rows[0]["record"]["mail"] == PII_EMAIL  # raw here; the page masks it


def test_the_ui_session_is_read_only(ui_state: dict[str, str]) -> None:
    with pytest.raises(queries.StateUnavailable, match="could not be read"):
        with queries.read_only("dst_db") as conn:
            assert conn is not None
            conn.execute("DELETE FROM syncgate.sync_runs")
    with psycopg.connect(ui_state["dst"]) as conn:
        assert conn.execute("SELECT count(*) FROM syncgate.sync_runs").fetchone() == (33,)


def test_last_success_uses_the_partial_index(ui_state: dict[str, str]) -> None:
    with psycopg.connect(ui_state["dst"]) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT finished_at FROM syncgate.sync_runs WHERE flow_id = 'orders_ok' "
            "AND status = 'success' AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
    assert "sync_runs_flow_success" in " ".join(row[0] for row in plan)
