"""``notify-sql``: the printed SQL quotes every identifier, is idempotent, and refuses flows it
cannot serve with a message saying why."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncgate.cli.main import EXIT_OK, EXIT_REFUSED, main

pytestmark = pytest.mark.unit

ONE_WAY = {
    "id": "orders",
    "source": {"type": "postgres", "conn_id": "erp_db", "table": "Sales.Orders", "primary_key": ["id"],
               "cursor": "updated_at"},
    "target": {"type": "postgres", "conn_id": "dst", "table": "public.orders"},
    "triggers": [{"type": "postgres_notify", "channel": "Orders_Changed"}],
}  # fmt: skip


def run(
    folder: Path, monkeypatch: pytest.MonkeyPatch, *specs: dict[str, Any], flow: str = "orders"
) -> tuple[int, str, str]:
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(folder))
    for spec in specs:
        (folder / f"{spec['id']}.yml").write_text(yaml.safe_dump(spec))
    out, err = io.StringIO(), io.StringIO()
    return main(["notify-sql", flow], out=out, err=err), out.getvalue(), err.getvalue()


def test_the_sql_installs_an_idempotent_statement_level_trigger_with_quoted_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(tmp_path, monkeypatch, ONE_WAY)
    assert (code, err) == (EXIT_OK, "")
    statements = [line for line in out.splitlines() if not line.startswith("--")]
    assert statements[0] == "BEGIN;" and statements[-1] == "COMMIT;"
    assert 'CREATE OR REPLACE FUNCTION "Sales"."syncgate_notify_orders"() RETURNS trigger' in out
    assert "PERFORM pg_notify('Orders_Changed', '');" in out
    assert 'DROP TRIGGER IF EXISTS "syncgate_notify_orders" ON "Sales"."Orders";' in statements
    assert (
        'CREATE TRIGGER "syncgate_notify_orders" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "Sales"."Orders"'
        in statements
    )
    assert '  FOR EACH STATEMENT EXECUTE FUNCTION "Sales"."syncgate_notify_orders"();' in statements
    assert "connection 'erp_db'" in out


def test_a_sync_flow_installs_it_on_the_named_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sync = {
        "id": "people", "mode": "two_way",
        "sides": {
            "a": {"type": "postgres", "conn_id": "a_db", "table": "people", "primary_key": ["id"], "cursor": "ts"},
            "b": {"type": "postgres", "conn_id": "b_db", "table": "crm.people", "primary_key": ["id"], "cursor": "ts"},
        },
        "triggers": [{"type": "postgres_notify", "channel": "people", "side": "b"}],
    }  # fmt: skip
    code, out, _ = run(tmp_path, monkeypatch, sync, flow="people")
    assert code == EXIT_OK
    assert 'ON "crm"."people"' in out and "connection 'b_db'" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"triggers": [{"type": "webhook", "secret_conn_id": "hook"}]}, "has no postgres_notify trigger"),
        ({"triggers": []}, "has no postgres_notify trigger"),
        (
            {"source": {**ONE_WAY["source"], "table": None, "query": "SELECT id, updated_at FROM orders"}},
            "the source is a query",
        ),
    ],
)
def test_a_flow_it_cannot_serve_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    spec = {**ONE_WAY, **change}
    spec["source"] = {k: v for k, v in spec["source"].items() if v is not None}
    code, out, err = run(tmp_path, monkeypatch, spec)
    assert (code, out) == (EXIT_REFUSED, "")
    assert message in err


def test_an_unknown_flow_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(tmp_path, monkeypatch, ONE_WAY, flow="invoices")
    assert (code, out) == (EXIT_REFUSED, "") and "no flow 'invoices'" in err


def test_listening_on_another_connection_than_the_table_is_read_through_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = run(tmp_path, monkeypatch, ONE_WAY)[1]
    assert "WARNING" not in same
    other = {**ONE_WAY, "triggers": [{"type": "postgres_notify", "channel": "c", "conn_id": "replica_db"}]}
    code, out, _ = run(tmp_path, monkeypatch, other)
    assert code == EXIT_OK
    assert "-- WARNING: the flow LISTENs on connection 'replica_db' but reads" in out
