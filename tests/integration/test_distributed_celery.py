"""A real distributed run: the CeleryExecutor, a Redis broker, two workers, S3 landing.

As docker-compose.yml deploys syncgate, on this machine (celery_stack.py): scheduler,
dag-processor, triggerer and API server, Celery's results in the metadata PostgreSQL, a Redis
broker, and two Celery workers that share no local disk; the landing area is an S3 bucket
(``SYNCGATE_LANDING_URL=s3://...``) on a local S3 server (moto, s3_server.py), reached with the
AWS SDKs' variables. A cluster policy sends each stage of the fixed shape to the other worker
than the stage before it (celery_deploy/airflow_local_settings.py), so every hand-off between a
run's tasks crosses workers.

A PostgreSQL flow and an HTTP flow run at once and sync; the PostgreSQL flow then has a batch
rejected by its gate (its files stay in the bucket, the target untouched) and syncs on the next
run, which removes the rejected batch's files. Each run's tasks ran on both workers, each
target equals its source by checksum, every batch's files went through the bucket (versioning
keeps what was written and removed), and no process wrote a landing file to local disk.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from celery_stack import CeleryStack, RedisServer
from helpers import execute, seed_orders
from s3_server import S3Server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BUCKET = "syncgate-landing"
PREFIX = "prod/landing"
SHAPE = ["extract", "transform", "load", "verify", "promote"]
WORKERS = {"worker-a": "default,syncgate_even", "worker-b": "syncgate_odd"}

PG_FLOW = "dist_orders"
PG_SPEC = f"""
id: {PG_FLOW}
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.orders
  primary_key: [id]
  cursor: updated_at
  deletes: hard
target: {{type: postgres, conn_id: dst_db, table: analytics.orders, write: merge}}
transform:
  map_values: {{status: {{P: pending, S: shipped, X: cancelled}}}}
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {{column: status, value_set: [pending, shipped, cancelled]}}
"""

HTTP_FLOW = "dist_crm_customers"
HTTP_SPEC = f"""
id: {HTTP_FLOW}
retries: 0
source:
  type: http
  conn_id: crm_api
  endpoint: /v2/customers
  records: data
  primary_key: [id]
  cursor: updated_at
  cursor_param: updated_since
  columns: [id, name, email, status, city, updated_at]
  fields:
    city: address.city
    updated_at: {{path: updated_at, type: timestamptz}}
  pagination: {{style: token, token_path: meta.next, token_param: cursor, size_param: limit, size: 100}}
target: {{type: postgres, conn_id: dst_db, table: crm.customers}}
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {{column: status, value_set: [active, inactive, lead]}}
"""

MAPPED = "CASE status WHEN 'P' THEN 'pending' WHEN 'S' THEN 'shipped' WHEN 'X' THEN 'cancelled' END"


def checksum(stack: CeleryStack, db: str, query: str) -> tuple[int, str]:
    """Row count and md5 of the rows of ``query`` (``id`` first) as text, in key order."""
    with stack.connect(db) as conn:
        found = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r.id), '')) FROM ({query}) r"
        ).fetchone()
    return int(found[0]), str(found[1])


def pg_in_sync(stack: CeleryStack) -> bool:
    source = checksum(
        stack, "src", f'SELECT id, {MAPPED} AS status, amount, note, "order", updated_at FROM public.orders'
    )
    target = checksum(
        stack, "dst", 'SELECT id, status, amount, note, "order", updated_at FROM analytics.orders'
    )
    return source == target and source[0] > 0


def crm_in_sync(stack: CeleryStack, crm: Any) -> bool:
    records = crm.admin.records("customers")
    with stack.connect("dst") as conn:
        conn.execute("CREATE TEMP TABLE expected (id bigint, name text, email text, status text, city text)")
        with conn.cursor().copy("COPY expected FROM STDIN") as copy:
            for r in records:
                copy.write_row(
                    (r["id"], r["name"], r["email"], r["status"], (r.get("address") or {}).get("city"))
                )
        source, target = (
            conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r.id), '')) FROM ({q}) r"
            ).fetchone()
            for q in (
                "SELECT id, name, email, status, city FROM expected",
                "SELECT id, name, email, status, city FROM crm.customers",
            )
        )
    return source == target and source[0] == len(records) > 0


def run_ids(stack: CeleryStack, dag_id: str) -> list[str]:
    with stack.connect("dst") as conn:
        return [
            r[0] for r in conn.execute("SELECT run_id FROM syncgate.sync_runs WHERE flow_id = %s", (dag_id,))
        ]


def batch_ids(stack: CeleryStack, dag_id: str, run_id: str) -> list[str]:
    with stack.connect("dst") as conn:
        found = conn.execute(
            "SELECT batch_id FROM syncgate.sync_runs WHERE flow_id = %s AND run_id = %s", (dag_id, run_id)
        ).fetchall()
    return [str(r[0]) for r in found]


def assert_ran_on_both_workers(stack: CeleryStack, dag_id: str, run_id: str) -> None:
    hosts = stack.task_hosts(dag_id, run_id)
    assert sorted(hosts) == sorted(SHAPE), hosts
    # Every hand-off crossed workers: extract, load and promote on one, transform and verify on the other.
    assert {task: host for task, (host, _) in hosts.items()} == {
        "extract": "worker-a", "transform": "worker-b", "load": "worker-a", "verify": "worker-b",
        "promote": "worker-a",
    }, hosts  # fmt: skip


def local_landing_files(stack: CeleryStack) -> list[Path]:
    """Landed files anywhere on the machine's disks the test's processes use."""
    found = [p for p in stack.state_dir.rglob("*") if p.is_file() and p.suffix in (".parquet", ".gz")]
    homes = [stack.airflow_home, *(stack.worker_dir(name) / "airflow" for name in WORKERS)]
    found += [home / "syncgate" / "landing" for home in homes if (home / "syncgate" / "landing").exists()]
    return found


def test_flows_run_on_two_celery_workers_landing_in_s3(tmp_path: Path, crm_factory: Any) -> None:
    crm = crm_factory(customers=300, contacts=0)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{PG_FLOW}.yml").write_text(textwrap.dedent(PG_SPEC))
    (flows / f"{HTTP_FLOW}.yml").write_text(textwrap.dedent(HTTP_SPEC))
    crm_host, crm_port = crm.url.removeprefix("http://").split(":")
    crm_conn = {"conn_type": "http", "host": crm_host, "port": int(crm_port), "password": crm.token}

    with S3Server(tmp_path / "s3.log") as s3, RedisServer(tmp_path / "redis") as redis:
        s3.create_versioned_bucket(BUCKET)
        stack = CeleryStack(
            state_dir=tmp_path / "stack",
            flows_dir=flows,
            databases=["src", "dst"],
            connections={"src_db": "src", "dst_db": "dst", "crm_api": json.dumps(crm_conn)},
            pg_dir=REPO / ".syncgate" / "pg-stack-test",
            fresh_metadata=True,
            broker_url=redis.url,
            workers=WORKERS,
            shared_env={"SYNCGATE_LANDING_URL": f"s3://{BUCKET}/{PREFIX}", **s3.client_env()},
        )
        with stack:
            for db in ("src", "dst"):
                with stack.connect(db) as conn:
                    conn.execute(
                        "DROP SCHEMA IF EXISTS syncgate CASCADE; DROP SCHEMA IF EXISTS analytics CASCADE"
                    )
                    conn.execute("DROP SCHEMA IF EXISTS crm CASCADE; DROP TABLE IF EXISTS public.orders")
            seed_orders(stack.db_url("src"), 500)
            stack.airflow("pools", "set", "syncgate_crm_api", "2", "the test CRM")
            for flow in (PG_FLOW, HTTP_FLOW):
                stack.wait_for_dag(flow)
                stack.unpause(flow)

            # Both flows at once, each of their stages on the other worker than the one before.
            first = {flow: stack.trigger(flow, "first") for flow in (PG_FLOW, HTTP_FLOW)}
            for flow, run_id in first.items():
                assert stack.wait_for_run(flow, run_id) == "success", stack.task_hosts(flow, run_id)
                assert_ran_on_both_workers(stack, flow, run_id)
            assert pg_in_sync(stack)
            assert crm_in_sync(stack, crm)

            # Every batch went through the bucket, and promote removed it from there.
            for flow, run_id in first.items():
                (batch,) = batch_ids(stack, flow, run_id)
                written = s3.written_keys(BUCKET, f"{PREFIX}/{flow}/{batch}/")
                assert any(key.endswith(".parquet") and size > 0 for key, size in written.items()), written
                # Nothing of the flow is left (folder markers aside): no batch file, no resume pointer.
                assert [k for k in s3.current_keys(BUCKET, f"{PREFIX}/{flow}/") if not k.endswith("/")] == []

            # A batch the gate rejects stays in the bucket, and the target stays as it was.
            execute(
                stack.db_url("src"),
                "UPDATE public.orders SET status = 'Q', updated_at = now() WHERE id = 7",
                "UPDATE public.orders SET amount = amount + 1, updated_at = now() WHERE id BETWEEN 10 AND 19",
                "INSERT INTO public.orders VALUES (900, 'P', 9.5, 'new', 'o900', now())",
                "DELETE FROM public.orders WHERE id IN (3, 4)",
            )
            target_before = checksum(stack, "dst", "SELECT * FROM analytics.orders")
            rejected = stack.trigger(PG_FLOW, "rejected")
            assert stack.wait_for_run(PG_FLOW, rejected) == "failed"
            assert checksum(stack, "dst", "SELECT * FROM analytics.orders") == target_before
            (rejected_batch,) = batch_ids(stack, PG_FLOW, rejected)
            left = s3.current_keys(BUCKET, f"{PREFIX}/{PG_FLOW}/{rejected_batch}/")
            assert any(key.endswith(".parquet") for key in left), left

            # Fixed at the source: the next run syncs and removes the rejected batch's files.
            execute(
                stack.db_url("src"), "UPDATE public.orders SET status = 'S', updated_at = now() WHERE id = 7"
            )
            fixed = stack.trigger(PG_FLOW, "fixed")
            assert stack.wait_for_run(PG_FLOW, fixed) == "success"
            assert_ran_on_both_workers(stack, PG_FLOW, fixed)
            assert pg_in_sync(stack)
            leftover = [k for k in s3.current_keys(BUCKET, f"{PREFIX}/{PG_FLOW}/") if not k.endswith("/")]
            assert leftover == [], leftover
            assert sorted(run_ids(stack, PG_FLOW)) == ["first", "fixed", "rejected"]

            # Nothing was landed on any local disk: the bucket was the only landing area.
            assert local_landing_files(stack) == []
            task_logs = "".join(
                p.read_text(errors="replace") for p in stack.state_dir.glob("workers/*/airflow/logs/**/*.log")
            )
            assert f"s3://{BUCKET}/{PREFIX}/{PG_FLOW}/" in task_logs, (
                "no task logs: the check below proves nothing"
            )
            assert "Could not remove" not in task_logs
