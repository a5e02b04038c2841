"""Helpers for HTTP-target tests: a PostgreSQL customers table pushed to the demo CRM."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from helpers import apply_overrides, execute

from syncgate.spec.model import FlowSpec

CUSTOMERS_DDL = """
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text,
    status text NOT NULL,
    tier integer,
    lifetime_value numeric(12,2),
    address jsonb NOT NULL,
    tags text[] NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
)
"""

FIELDS = ("id", "name", "email", "status", "tier", "lifetime_value", "address", "tags")


def seed_customers(url: str, count: int) -> None:
    execute(
        url,
        CUSTOMERS_DDL,
        f"""INSERT INTO public.customers
            SELECT g, 'Customer ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'c' || g || '@example.com' END,
                   (ARRAY['active', 'inactive', 'lead'])[1 + g % 3], NULLIF(g % 4, 0), g * 10.5,
                   jsonb_build_object('city', CASE WHEN g % 5 = 0 THEN NULL ELSE 'City ' || g % 5 END,
                                      'country', 'DE'),
                   ARRAY['t' || g % 3], '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', NULL
            FROM generate_series(1, {count}) g""",
    )


def make_http_spec(**overrides: Any) -> FlowSpec:
    """src_db.public.customers -> the CRM's /v1/customers, state on dst_db; overridable per key."""
    spec: dict[str, Any] = {
        "id": "crm_push",
        "retries": 0,
        "source": {
            "type": "postgres",
            "conn_id": "src_db",
            "table": "public.customers",
            "primary_key": ["id"],
            "cursor": "updated_at",
            "deletes": "soft",
            "soft_delete_column": "deleted_at",
        },
        "target": {
            "type": "http",
            "conn_id": "crm_api",
            "state_conn_id": "dst_db",
            "endpoint": "/v1/customers",
            "fields": list(FIELDS),
            "retry": {"max_attempts": 4, "backoff_seconds": 0.01},
        },
        "quality": {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "status", "value_set": ["active", "inactive", "lead"]},
                }
            ]
        },
    }
    return FlowSpec.model_validate(apply_overrides(spec, overrides))


def wire_crm(monkeypatch: pytest.MonkeyPatch, crm: Any) -> None:
    """The Airflow HTTP connection ``crm_api``: password without login = bearer token."""
    host_port = crm.url.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:{crm.token}@{host_port}")


def source_customers(url: str, live_only: bool = True) -> dict[int, dict[str, Any]]:
    """The source rows as the CRM should hold them (its JSON shape)."""
    where = "WHERE deleted_at IS NULL" if live_only else ""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            f"SELECT id, name, email, status, tier, lifetime_value::text, address, tags "
            f"FROM public.customers {where} ORDER BY id"
        ).fetchall()
    return {row[0]: dict(zip(FIELDS, row, strict=True)) for row in found}


def crm_customers(crm: Any) -> dict[int, dict[str, Any]]:
    return {r["id"]: {k: r[k] for k in FIELDS} for r in crm.admin.records("customers")}


def push_requests(crm: Any) -> int:
    """Requests the CRM received on its customer write paths (reads by the admin API excluded)."""
    counts = crm.admin.stats()["requests"]
    return sum(n for path, n in counts.items() if path.startswith("/v1/customers"))
