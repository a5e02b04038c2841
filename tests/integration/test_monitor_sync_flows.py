"""The monitor judges sync flows too: no freshness SLA (``freshness`` is None), failure alerts apply."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from syncgate.observe.monitor import run_monitor
from syncgate.spec.loader import load_specs
from syncgate.spec.sync_model import SyncSpec
from syncgate.state.schema import ensure_state_schema

pytestmark = pytest.mark.integration

SYNC = {
    "id": "customers_sync",
    "mode": "two_way",
    "sides": {
        "erp": {"type": "postgres", "conn_id": "src_db", "table": "public.customers", "primary_key": ["id"],
                "cursor": "updated_at"},
        "crm": {"type": "postgres", "conn_id": "dst_db", "table": "public.contacts", "primary_key": ["id"],
                "cursor": "modified_at"},
    },
}  # fmt: skip


def test_the_monitor_checks_sync_flows_and_alerts_on_their_failures(
    databases: dict[str, str], tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "customers_sync.yml").write_text(json.dumps(SYNC))
    assert [type(i.spec) for i in load_specs(flows)] == [SyncSpec]
    with psycopg.connect(databases["src"]) as conn:
        ensure_state_schema(conn)
        for n in range(3):
            conn.execute(
                "INSERT INTO syncgate.sync_runs (flow_id, run_id, status, error, started_at, finished_at) "
                "VALUES ('customers_sync', %s, 'failed', 'promote_crm: permission denied', "
                "now() - %s * interval '10 minutes', now() - %s * interval '10 minutes' + interval '5 seconds')",
                (f"scheduled__{n}", 3 - n, 3 - n),
            )

    result = run_monitor(flows)

    assert result.errors == [] and result.flows == 1 and result.freshness == {}
    assert [(n["flow_id"], n["kind"], n["event"]) for n in result.notices] == [
        ("customers_sync", "failures", "opened")
    ]
    with psycopg.connect(databases["src"]) as conn:
        assert conn.execute(
            "SELECT kind, status FROM syncgate.incidents WHERE flow_id = 'customers_sync'"
        ).fetchall() == [("failures", "open")]
