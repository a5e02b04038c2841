"""Observability edge cases: overlapping monitor runs, PII in errors and pages, unsafe HTML."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, make_spec, rows, sync
from receivers import Received, WebhookServer

from syncgate.report.paths import report_files

pytestmark = pytest.mark.integration

PII = "alice.pii@example.com"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _webhook_defaults(port: int, monkeypatch: pytest.MonkeyPatch, conn: str) -> Any:
    from syncgate.spec.alerts import FlowDefaults

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn.upper()}",
        json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}/h"}),
    )
    return FlowDefaults.model_validate(
        {"alerts": {"notifiers": [{"type": "webhook", "conn_id": conn}], "renotify_every": "1h"}}
    ).alerts


def _with_state_schema() -> None:
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)


def test_a_monitor_run_overlapping_another_sends_no_second_notice_for_one_incident(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monitor runs overlap (the monitor DAG and a flow's failure callback, ``check_flow``). A
    second run while the first is delivering the notice of a new incident (committed, but not
    yet marked notified) must not send a "STILL FIRING" reminder for it."""
    from syncgate.observe.monitor import monitor

    spec = make_spec(freshness={"column": "updated_at", "max_age": "2h"})
    execute(
        databases["dst"],
        "CREATE SCHEMA analytics",
        "CREATE TABLE analytics.orders (id bigint PRIMARY KEY, updated_at timestamptz)",
        f"INSERT INTO analytics.orders VALUES (1, '{(T0 - timedelta(hours=5)).isoformat()}')",
    )
    # Synced once long ago (a flow that never promoted would be pending first sync, not late).
    _with_state_schema()
    execute(
        databases["dst"],
        "INSERT INTO syncgate.sync_runs (flow_id, run_id, status, started_at, finished_at) VALUES "
        f"('orders_flow', 'scheduled__first', 'success', '{(T0 - timedelta(days=3)).isoformat()}', "
        f"'{(T0 - timedelta(days=3)).isoformat()}')",
    )
    second_received = Received()
    second = WebhookServer(second_received)
    second_defaults = _webhook_defaults(second.port, monkeypatch, "hook_b")
    second_result: list[Any] = []

    first_received = Received()
    first = WebhookServer(first_received)
    original = first.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def slow_post(handler: Any) -> None:
        # While the first run's webhook call is in flight, a second monitor run checks the flow.
        if not second_result:
            second_result.append(monitor([spec], second_defaults, now=T0 + timedelta(seconds=5), base_url=""))
        original(handler)

    first.server.RequestHandlerClass.do_POST = slow_post  # type: ignore[attr-defined]
    first_defaults = _webhook_defaults(first.port, monkeypatch, "hook_a")
    try:
        monitor([spec], first_defaults, now=T0, base_url="")
    finally:
        first.close()
        second.close()
    assert len(first_received.webhooks) == 1
    texts = [w["text"] for w in second_received.webhooks]
    assert texts == [], f"duplicate notice for one incident: {texts}"


def test_a_promote_error_quoting_the_failing_row_keeps_pii_out_of_audit_report_and_ui(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A database error in promote quotes the failing row (PostgreSQL's ``DETAIL: Failing row
    contains (...)``); the failure's text in ``sync_runs.error``, the run report (JSON + HTML)
    and the UI's run history never shows the ``pii`` column's value."""
    from fastapi.testclient import TestClient

    from syncgate.dag_factory import _record_failure
    from syncgate.ui.app import create_app
    from syncgate.ui.auth import Viewer, current_viewer

    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, status char(1) NOT NULL, amount numeric(12,2), "
        'note text, "order" text, updated_at timestamptz NOT NULL)',
        "INSERT INTO public.orders VALUES (1, 'P', 1, 'n', 'o', '2026-01-01T00:00:00+00')",
    )
    spec = make_spec(pii=["note"])
    sync(spec)
    # A DBA adds a sanity check on the target; the next batch violates it.
    execute(dst, "ALTER TABLE analytics.orders ADD CONSTRAINT small CHECK (amount < 1000)")
    execute(
        src, f"UPDATE public.orders SET amount = 5000, note = '{PII}', updated_at = '2026-01-02T00:00:00+00'"
    )
    from helpers import new_run

    run = new_run(spec, run_id="manual__leak")
    with pytest.raises(Exception) as caught:
        sync(spec, run)

    class TI:
        task_id = "promote"

        def xcom_pull(self, task_ids: str) -> Any:
            return None

    class DagRun:
        run_id = "manual__leak"

    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path / "no_flows"))
    _record_failure(spec)({"exception": caught.value, "ti": TI(), "dag_run": DagRun()})

    (error,) = rows(dst, "SELECT error FROM syncgate.sync_runs WHERE run_id = 'manual__leak'")[0]
    json_file, html_file = report_files(spec.id, "manual__leak")
    leaks = {
        "audit": PII in (error or ""),
        "report.json": PII in json_file.read_text(),
        "report.html": PII in html_file.read_text(),
    }
    monkeypatch.setattr(
        "syncgate.ui.app.current_flows", lambda: type("F", (), {"specs": {spec.id: spec}, "broken": []})()
    )
    app = create_app()
    app.dependency_overrides[current_viewer] = lambda: Viewer.everyone("t")
    page = TestClient(app).get(f"/flows/{spec.id}")
    assert page.status_code == 200, page.text[:300]
    leaks["ui"] = PII in page.text
    assert not any(leaks.values()), f"PII value in clear: {leaks}"


def test_data_docs_escape_unexpected_source_values(databases: dict[str, str], tmp_path: Path) -> None:
    """An unexpected value from the source never reaches a validation page as live HTML: GX
    Data Docs are served by the UI plugin at Airflow's own origin (CSP sets only
    ``frame-ancestors``), so unescaped source data could run script in an Airflow session."""
    from syncgate.errors import DataQualityError

    payload = "<img src=x onerror=alert(document.cookie)>"
    execute(
        databases["src"],
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, status text NOT NULL, amount numeric(12,2), "
        'note text, "order" text, updated_at timestamptz NOT NULL)',
        f"INSERT INTO public.orders VALUES (1, '{payload}', 1, 'n', 'o', '2026-01-01T00:00:00+00')",
    )
    spec = make_spec(
        transform={},
        quality={
            "sample_unexpected_values": 5,
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "status", "value_set": ["ok"]},
                }
            ],
        },
    )
    with pytest.raises(DataQualityError):
        sync(spec)
    pages = list((tmp_path / "reports" / spec.id / "gx").rglob("validations/**/*.html"))
    assert pages, "no validation page written"
    text = "".join(p.read_text() for p in pages)
    assert payload not in text, "raw HTML from the source data inside a Data Docs page"


@pytest.mark.parametrize("pg_type", ["timestamp", "date"])
def test_the_freshness_expectation_passes_a_fresh_batch_on_a_naive_timestamp_or_date_column(
    databases: dict[str, str], pg_type: str
) -> None:
    """A batch written a moment ago is fresh on a ``timestamp`` (without time zone) or ``date``
    column too (``is_temporal`` accepts both): the column max is not compared with an aware
    ISO string as if it were one."""
    execute(
        databases["src"],
        f"CREATE TABLE public.events (id bigint PRIMARY KEY, updated_at {pg_type} NOT NULL)",
        "INSERT INTO public.events VALUES (1, (now() AT TIME ZONE 'UTC'))",
    )
    spec = make_spec(
        source__table="public.events", target__table="analytics.events", transform={}, quality={},
        freshness={"column": "updated_at", "max_age": "2d"},
    )  # fmt: skip
    result = sync(spec)
    fresh = [r for r in result["quality"]["results"] if (r.get("meta") or {}).get("syncgate") == "freshness"]
    assert len(fresh) == 1
    assert fresh[0]["success"], f"fresh batch judged stale: {fresh[0]}"


_ = threading  # the webhook server runs its handlers on threads


def test_overlapping_monitor_runs_announce_a_recovery_once(databases: dict[str, str]) -> None:
    """Two overlapping monitor transactions that both read the incident open (``read_open``
    before either commits) both try to resolve it: only the one that actually resolves it
    returns a "RESOLVED" notice."""
    from syncgate.db.connect import connect
    from syncgate.observe import incidents
    from syncgate.observe.rules import Finding
    from syncgate.state.schema import ensure_state_schema

    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        conn.execute(
            "INSERT INTO syncgate.incidents (flow_id, kind, severity, summary, details, opened_at, "
            "last_notified_at, notify_count) VALUES ('orders_flow', 'freshness', 'critical', 's', '{}', %s, %s, 1)",
            (T0, T0),
        )
        conn.commit()
    recovered = Finding("orders_flow", "freshness", False)
    now = T0 + timedelta(hours=2)
    with connect("dst_db") as a, connect("dst_db") as b:
        seen_a = incidents.read_open(a, ["orders_flow"])  # both monitor runs start their transaction
        seen_b = incidents.read_open(b, ["orders_flow"])
        first = incidents.reconcile(
            a, recovered, seen_a.get(("orders_flow", "freshness")), timedelta(hours=1), now
        )
        a.commit()
        second = incidents.reconcile(
            b, recovered, seen_b.get(("orders_flow", "freshness")), timedelta(hours=1), now
        )
        b.commit()
    notices = [n.event for n in (first, second) if n is not None]
    assert notices == ["resolved"], f"one recovery announced {len(notices)} times"


def test_the_ui_masks_a_pii_primary_key_of_rejected_records(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flow page masks the ``record_key`` of rejected records as well as their ``record``:
    a flow may be keyed by a ``pii`` column (``primary_key: [email]``, ``pii: [email]``;
    only hashing a key is refused)."""
    from fastapi.testclient import TestClient

    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema
    from syncgate.ui.app import create_app
    from syncgate.ui.auth import Viewer, current_viewer

    spec = make_spec(source__primary_key=["email"], pii=["email"], transform={}, quality={})
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        conn.execute(
            "INSERT INTO syncgate.rejected_records (flow_id, run_id, batch_id, stage, record_key, reason, record) "
            "VALUES ('orders_flow', 'r1', 'b1', 'push', %s, '422: invalid', %s)",
            (json.dumps({"email": PII}), json.dumps({"email": PII, "status": "x"})),
        )
        conn.commit()
    flows = type("F", (), {"specs": {spec.id: spec}, "broken": []})()
    monkeypatch.setattr("syncgate.ui.app.current_flows", lambda: flows)
    app = create_app()
    app.dependency_overrides[current_viewer] = lambda: Viewer.everyone("t")
    page = TestClient(app).get(f"/flows/{spec.id}")
    assert page.status_code == 200 and "422: invalid" in page.text, "rejected record not shown"
    assert PII not in page.text, "PII primary key of a rejected record shown in clear"


def test_runs_failing_in_extract_before_their_audit_row_open_a_failures_incident(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A flow whose source is gone (table dropped, unreachable, a misspelt column) fails in
    extract before the run's audit row exists; the failure callback still records the run, so
    the ``failures`` rule (which counts ``syncgate.sync_runs`` rows) reaches
    ``consecutive_failures`` and alerts."""
    from syncgate.dag_factory import _record_failure
    from syncgate.db.connect import connect
    from syncgate.observe.monitor import monitor
    from syncgate.pipeline.extract import extract
    from syncgate.spec.alerts import FlowDefaults
    from syncgate.state.schema import ensure_state_schema

    spec = make_spec()  # public.orders does not exist in the source
    with connect("dst_db") as conn:
        ensure_state_schema(conn)
        conn.commit()
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path / "no_flows"))
    from helpers import new_run

    for n in range(4):
        run = new_run(spec, run_id=f"scheduled__{n}")
        with pytest.raises(Exception) as caught:
            extract(spec, run)

        class TI:
            task_id = "extract"

            def xcom_pull(self, task_ids: str) -> Any:
                return None

        dag_run = type("DagRun", (), {"run_id": run.run_id})()
        _record_failure(spec)({"exception": caught.value, "ti": TI(), "dag_run": dag_run})
    defaults = FlowDefaults.model_validate({"alerts": {"consecutive_failures": 3}}).alerts
    monitor([spec], defaults, now=datetime.now(UTC), base_url="")
    opened = rows(databases["dst"], "SELECT kind, status FROM syncgate.incidents")
    assert ("failures", "open") in opened, f"4 failed runs in a row, incidents: {opened}"
