"""Harnesses of the connector contract suite: how to seed, change and read each system.

A source harness seeds records ``1..count`` into a fresh source, upserts records with a chosen
cursor value, tells each record's current cursor value as the system itself holds it, and
breaks its credentials. A target harness says where a flow writes and reads back what the
target holds, values as text (``None`` for null), in its ``columns``.

Every harness reads its system directly (SQL, the CRM's admin API), never through syncgate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import psycopg
import pytest
from crm_push import wire_crm
from helpers import execute
from http_helpers import STYLES, connect_crm

# The canonical rows as text, by key.
Contents = dict[int, tuple[str | None, ...]]


class SourceHarness(Protocol):
    name: str

    def source(self) -> dict[str, Any]:
        """The ``source`` part of a flow spec reading this system."""
        ...

    def seed(self, count: int) -> None:
        """A fresh source holding records ``1..count``, every cursor before 2026."""
        ...

    def upsert(self, keys: list[int], at: datetime) -> None:
        """Change the existing ``keys`` and create the missing ones, all with cursor ``at``."""
        ...

    def cursors(self) -> dict[int, datetime]:
        """Every record's cursor value, as the system holds it."""
        ...

    def stamp(self, at: datetime) -> str:
        """``at`` as this source's watermark text."""
        ...

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str] | None:
        """Point the source's connection at a wrong secret; (connection id, secret), or None
        when the system has no credentials."""
        ...


class TargetHarness(Protocol):
    name: str
    columns: tuple[str, ...]

    def target(self) -> dict[str, Any]:
        """The ``target`` part of a flow spec writing this system (state on ``dst_db``)."""
        ...

    def contents(self) -> Contents:
        """What the target holds, in ``columns``."""
        ...

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str] | None: ...


def pg_text(url: str, table: str, columns: tuple[str, ...]) -> Contents:
    """``table``'s rows by ``id``, ``columns`` as PostgreSQL's text (timestamps in UTC)."""
    from psycopg import sql

    query = sql.SQL("SELECT id, {} FROM {}").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
        sql.Identifier(*table.split(".")),
    )
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return {int(r[0]): tuple(r[1:]) for r in conn.execute(query).fetchall()}


def bad_pg_url(url: str, secret: str) -> str:
    """``url`` as a role that does not exist, with ``secret`` as its password (the test cluster
    trusts local users, so a wrong password alone would be let in)."""
    return url.replace("syncgate@", f"nobody:{secret}@")


# -- PostgreSQL ---------------------------------------------------------------------------

ITEMS_DDL = """
CREATE TABLE public.items (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    amount numeric(12,2),
    updated_at timestamptz NOT NULL
)
"""


class PostgresSourceHarness:
    name = "postgres"

    def __init__(self, databases: dict[str, str]) -> None:
        self.url = databases["src"]

    def source(self) -> dict[str, Any]:
        return {
            "type": "postgres",
            "conn_id": "src_db",
            "table": "public.items",
            "primary_key": ["id"],
            "cursor": "updated_at",
        }

    def seed(self, count: int) -> None:
        execute(
            self.url,
            "DROP TABLE IF EXISTS public.items",
            ITEMS_DDL,
            # Two records per cursor value: the boundary holds ties.
            f"INSERT INTO public.items SELECT g, 'item ' || g, g * 1.25, "
            f"'2025-01-01 00:00:00+00'::timestamptz + (g / 2) * interval '1 minute' FROM generate_series(1, {count}) g",
        )

    def upsert(self, keys: list[int], at: datetime) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO public.items SELECT k, 'item ' || k, NULL, %(at)s FROM unnest(%(keys)s::bigint[]) k "
                "ON CONFLICT (id) DO UPDATE SET name = items.name || '+', amount = coalesce(items.amount, 0) + 1, "
                "updated_at = EXCLUDED.updated_at",
                {"keys": keys, "at": at},
            )

    def cursors(self) -> dict[int, datetime]:
        with psycopg.connect(self.url) as conn:
            return dict(conn.execute("SELECT id, updated_at FROM public.items").fetchall())

    def stamp(self, at: datetime) -> str:
        return at.strftime("%Y-%m-%d %H:%M:%S+00")

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
        secret = "Src-Wr0ng-Pa55word"
        monkeypatch.setenv("AIRFLOW_CONN_SRC_DB", bad_pg_url(self.url, secret))
        return "src_db", secret


class PostgresTargetHarness:
    name = "postgres"
    columns = ("name", "email", "status", "tier", "lifetime_value", "updated_at")

    def __init__(self, databases: dict[str, str]) -> None:
        self.url = databases["dst"]

    def target(self) -> dict[str, Any]:
        return {"type": "postgres", "conn_id": "dst_db", "table": "analytics.customers", "write": "merge"}

    def contents(self) -> Contents:
        return pg_text(self.url, "analytics.customers", self.columns)

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
        secret = "Dst-Wr0ng-Pa55word"
        monkeypatch.setenv("AIRFLOW_CONN_DST_DB", bad_pg_url(self.url, secret))
        return "dst_db", secret


# -- HTTP: the demo CRM ---------------------------------------------------------------------


class HttpSourceHarness:
    """The CRM's ``/v1/customers`` (page paging, ``updated_since`` as the cursor filter)."""

    name = "http"

    def __init__(self, crm_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.crm = crm_factory(customers=0, contacts=0)
        connect_crm(monkeypatch, self.crm)

    def source(self) -> dict[str, Any]:
        return {
            "type": "http",
            "conn_id": "crm_api",
            "primary_key": ["id"],
            "cursor": "updated_at",
            "cursor_param": "updated_since",
            "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
            **json.loads(json.dumps(STYLES["page"])),
            "fields": {"updated_at": {"path": "updated_at", "type": "timestamp with time zone"}},
        }

    def seed(self, count: int) -> None:
        self.crm.admin.seed(customers=count, contacts=0)  # generated 2024-2025, ties included

    def upsert(self, keys: list[int], at: datetime) -> None:
        existing = set(self.cursors())
        with self.crm.client() as client:
            for key in keys:
                if key not in existing:
                    body = {"id": key, "name": f"customer {key}", "status": "lead"}
                    client.post("/v1/customers", json=body).raise_for_status()
        self.crm.admin.touch("customers", ids=keys, at=at.isoformat())

    def cursors(self) -> dict[int, datetime]:
        return {r["id"]: datetime.fromisoformat(r["updated_at"]) for r in self.crm.admin.records("customers")}

    def stamp(self, at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
        secret = "crm-Wr0ng-t0ken-src"
        connect_crm(monkeypatch, self.crm, token=secret)
        return "crm_api", secret


class HttpTargetHarness:
    """The CRM's customer writes (``POST`` / ``PATCH`` / ``DELETE /v1/customers``)."""

    name = "http"
    # The CRM stamps its own updated_at: the cursor is not sent.
    columns = ("name", "email", "status", "tier", "lifetime_value")

    def __init__(self, crm_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.crm = crm_factory(customers=0, contacts=0)
        wire_crm(monkeypatch, self.crm)

    def target(self) -> dict[str, Any]:
        return {
            "type": "http",
            "conn_id": "crm_api",
            "state_conn_id": "dst_db",
            "endpoint": "/v1/customers",
            "fields": ["id", *self.columns],
            "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
        }

    def contents(self) -> Contents:
        return {
            r["id"]: tuple(None if r[c] is None else str(r[c]) for c in self.columns)
            for r in self.crm.admin.records("customers")
        }

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
        secret = "crm-Wr0ng-t0ken-dst"
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:{secret}@{self.crm.url.removeprefix('http://')}")
        return "crm_api", secret
