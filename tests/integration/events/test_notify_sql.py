"""``notify-sql`` output run on a real database: idempotent, and every kind of change notifies."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from syncgate.cli.main import EXIT_OK, main

pytestmark = pytest.mark.integration

SPEC = {
    "id": "orders",
    "source": {"type": "postgres", "conn_id": "src_db", "table": "Sales.Orders", "primary_key": ["id"],
               "cursor": "updated_at"},
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "public.orders"},
    "triggers": [{"type": "postgres_notify", "channel": "Orders_Changed"}],
}  # fmt: skip


def test_the_printed_sql_runs_twice_and_notifies_once_per_changing_statement(
    databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "orders.yml").write_text(yaml.safe_dump(SPEC))
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["notify-sql", "orders"], out=out, err=io.StringIO()) == EXIT_OK
    script = out.getvalue()

    with (
        psycopg.connect(databases["src"], autocommit=True) as conn,
        psycopg.connect(databases["src"], autocommit=True) as listener,
    ):
        conn.execute('CREATE SCHEMA "Sales"')
        conn.execute(
            'CREATE TABLE "Sales"."Orders" (id int PRIMARY KEY, updated_at timestamptz DEFAULT now())'
        )
        for _ in range(2):  # idempotent: the second run replaces what the first installed
            conn.execute(script)
        installed = conn.execute(
            'SELECT count(*) FROM pg_trigger WHERE tgrelid = \'"Sales"."Orders"\'::regclass AND NOT tgisinternal'
        ).fetchone()
        assert installed == (1,)
        listener.execute('LISTEN "Orders_Changed"')

        def received() -> list[tuple[str, str]]:
            return [(n.channel, n.payload) for n in listener.notifies(timeout=0.5)]

        statements: list[Any] = [
            'INSERT INTO "Sales"."Orders" (id) SELECT generate_series(1, 100)',
            'UPDATE "Sales"."Orders" SET updated_at = now() WHERE id <= 10',
            'DELETE FROM "Sales"."Orders" WHERE id = 1',
            'TRUNCATE "Sales"."Orders"',
        ]
        for statement in statements:
            conn.execute(statement)
            assert received() == [("Orders_Changed", "")], statement  # one per statement, not per row
        with conn.transaction():  # one transaction's notifications fold into one
            conn.execute('INSERT INTO "Sales"."Orders" (id) VALUES (1)')
            conn.execute('UPDATE "Sales"."Orders" SET updated_at = now()')
        assert received() == [("Orders_Changed", "")]
        conn.execute('UPDATE "Sales"."Orders" SET updated_at = now() WHERE false')
        assert received() == [("Orders_Changed", "")]  # statement level: even a no-op statement
