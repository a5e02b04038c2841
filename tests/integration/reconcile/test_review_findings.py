"""Findings of an adversarial review of two-way / multi-way sync, kept as regression tests.

Each test shows one way a sync engine loses, duplicates or leaks data on real systems (real
PostgreSQL, the demo CRM over HTTP, Airflow's ``dag.test()``): a retried promote inserting twice,
a lossy side rewritten every run, an API's concurrent edit taken for an echo, a changed match
value duplicating a record, an unverified plan promoted, a stale parked conflict, a conflict
logged twice, pii in an error message."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crm_push import wire_crm
from helpers import execute, flows_dag_bag, rows, task_states

pytestmark = pytest.mark.integration

STAMP = """
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.{cursor} := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.{table} FOR EACH ROW EXECUTE FUNCTION stamp();
"""


def stamped(table: str, cursor: str, ddl: str) -> str:
    return ddl + STAMP.format(table=table, cursor=cursor)


def write_spec(tmp_path: Path, flow_id: str, spec: str) -> Path:
    folder = tmp_path / f"flows_{flow_id}"
    folder.mkdir(exist_ok=True)
    (folder / f"{flow_id}.yml").write_text(textwrap.dedent(spec))
    return folder


def run(monkeypatch: pytest.MonkeyPatch, flows: Path, flow_id: str) -> Any:
    return flows_dag_bag(monkeypatch, flows).dags[flow_id].test()


def ok(dag_run: Any) -> Any:
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    return dag_run


def tick() -> None:
    time.sleep(0.05)


# -- PostgreSQL <-> PostgreSQL, matched on the primary key ------------------------------------

PG_SPEC = """
id: review_pg
mode: two_way
retries: 0
sides:
  erp: {type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at, deletes: hard}
  crm: {type: postgres, conn_id: dst_db, table: public.contacts, primary_key: [id], cursor: modified_at, deletes: hard}
fields:
  id: {}
  name: {}
  tier: {}
  credit: {}
match: [id]
conflicts:
  default: newest_wins
  tie_break: [erp, crm]
"""

PG_ERP = stamped(
    "customers",
    "updated_at",
    """
CREATE TABLE public.customers (id int PRIMARY KEY, name text, tier text, credit numeric(12,4),
                               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO public.customers (id, name, tier, credit) VALUES (1, 'Ada', 'gold', 10), (2, 'Brian', 'silver', 20);
""",
)

PG_CRM = stamped(
    "contacts",
    "modified_at",
    """
CREATE TABLE public.contacts (id int PRIMARY KEY, name text, tier text, credit numeric(12,2),
                              modified_at timestamptz NOT NULL DEFAULT clock_timestamp());
""",
)


@pytest.fixture
def pg_sides(databases: dict[str, str], airflow_db: Path) -> tuple[str, str]:
    execute(databases["src"], PG_ERP)
    execute(databases["dst"], PG_CRM)
    return databases["src"], databases["dst"]


def crm_stamps(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, modified_at FROM public.contacts ORDER BY id")


def test_a_side_with_less_precision_is_not_rewritten_on_every_run(
    pg_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, crm = pg_sides
    flows = write_spec(tmp_path, "review_pg", PG_SPEC)
    ok(run(monkeypatch, flows, "review_pg"))
    execute(erp, "UPDATE public.customers SET credit = 1.2345 WHERE id = 1")
    ok(run(monkeypatch, flows, "review_pg"))
    assert rows(crm, "SELECT credit::text FROM public.contacts WHERE id = 1") == [("1.23",)]

    # Nobody edits anything from here on: a quiet run must not write to any side.
    ok(run(monkeypatch, flows, "review_pg"))
    before = crm_stamps(crm)
    ok(run(monkeypatch, flows, "review_pg"))
    assert crm_stamps(crm) == before, "a run without edits rewrote the CRM (a write loop)"


def test_a_side_that_failed_to_apply_does_not_log_the_same_conflict_twice(
    pg_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, crm = pg_sides
    flows = write_spec(tmp_path, "review_pg", PG_SPEC)
    ok(run(monkeypatch, flows, "review_pg"))

    execute(erp, "UPDATE public.customers SET tier = 'bronze' WHERE id = 2")
    tick()
    execute(crm, "UPDATE public.contacts SET tier = 'platinum' WHERE id = 2")  # newer: wins
    # The ERP refuses syncgate's writes for this run (a real error raised by its database).
    execute(
        erp,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'maintenance: writes refused'; END $$",
        "CREATE TRIGGER refuse BEFORE UPDATE ON public.customers FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    failed = run(monkeypatch, flows, "review_pg")
    assert task_states(failed)["promote_erp"] == "failed"
    assert task_states(failed)["promote_crm"] == "success"
    execute(erp, "DROP TRIGGER refuse ON public.customers")

    recovered = ok(run(monkeypatch, flows, "review_pg"))
    assert rows(erp, "SELECT tier FROM public.customers WHERE id = 2") == [("platinum",)]
    logged = rows(
        erp,
        "SELECT run_id FROM syncgate.sync_conflicts WHERE flow_id = 'review_pg' AND field = 'tier' ORDER BY id",
    )
    assert [r[0] for r in logged] == [failed.run_id], (
        f"one conflict between two edits was logged {len(logged)} times (runs {logged}); "
        f"recovery run {recovered.run_id}"
    )


MANUAL_SPEC = PG_SPEC.replace(
    "  tie_break: [erp, crm]", "  tie_break: [erp, crm]\n  fields:\n    tier: manual"
)


def test_a_parked_conflict_the_sides_settle_themselves_is_no_longer_listed_as_parked(
    pg_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, crm = pg_sides
    flows = write_spec(tmp_path, "review_pg", MANUAL_SPEC)
    ok(run(monkeypatch, flows, "review_pg"))
    execute(erp, "UPDATE public.customers SET tier = 'bronze' WHERE id = 2")
    execute(crm, "UPDATE public.contacts SET tier = 'platinum' WHERE id = 2")
    ok(run(monkeypatch, flows, "review_pg"))
    assert rows(erp, "SELECT status FROM syncgate.sync_conflicts WHERE field = 'tier'") == [("parked",)]

    # The ERP's user agrees with the CRM: both sides now hold the same value, nothing conflicts.
    execute(erp, "UPDATE public.customers SET tier = 'platinum' WHERE id = 2")
    ok(run(monkeypatch, flows, "review_pg"))
    ok(run(monkeypatch, flows, "review_pg"))
    assert rows(erp, "SELECT tier FROM public.customers WHERE id = 2") == [("platinum",)]
    assert rows(crm, "SELECT tier FROM public.contacts WHERE id = 2") == [("platinum",)]
    assert rows(erp, "SELECT status FROM syncgate.sync_conflicts WHERE field = 'tier'") != [("parked",)]


CHECKED_SPEC = (
    PG_SPEC
    + """
quality:
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {column: name}
"""
)


def test_promote_refuses_writes_that_are_not_the_verified_ones(
    pg_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from syncgate.reconcile import side_apply
    from syncgate.reconcile.records import read_lines, write_lines

    erp, crm = pg_sides
    flows = write_spec(tmp_path, "review_pg", CHECKED_SPEC)
    real_verify = side_apply.verify_side

    def verify_then_change_the_plan(spec: Any, side: str, run_info: Any, staged: Any) -> Any:
        verified = real_verify(spec, side, run_info, staged)
        if side == "crm":
            # After the gate passed, the plan promote reads is replaced (a rerun of reconcile, a
            # process with write access to the landing area): a null name the gate refuses.
            from syncgate import landing

            plan = landing.batch_dir(spec.side(side).view.id, f"plan-{run_info.key}") / "plan.jsonl.gz"
            entries = list(read_lines(str(plan)))
            for entry in entries:
                if entry["write"] is not None:
                    entry["write"]["values"]["name"] = None
            write_lines(spec.side(side).view.id, f"plan-{run_info.key}", "plan", entries)
        return verified

    monkeypatch.setattr(side_apply, "verify_side", verify_then_change_the_plan)
    dag_run = run(monkeypatch, flows, "review_pg")
    assert rows(crm, "SELECT count(*) FROM public.contacts WHERE name IS NULL") == [(0,)], (
        "rows the quality gate never saw (name NULL) were written to the CRM"
    )
    assert task_states(dag_run)["promote_crm"] == "failed"


# -- both sides mint their own ids ------------------------------------------------------------

MINT_SPEC = """
id: review_mint
mode: two_way
retries: 1
retry_delay: 1s
sides:
  erp: {type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at, deletes: hard}
  crm: {type: postgres, conn_id: dst_db, table: public.contacts, primary_key: [id], cursor: modified_at, deletes: hard}
fields:
  name: {}
  email: {}
match: [email]
pii: [email]
"""

MINT_TABLE = """
CREATE TABLE public.{table} (id serial PRIMARY KEY, name text, email text,
                             {cursor} timestamptz NOT NULL DEFAULT clock_timestamp());
"""


@pytest.fixture
def mint_sides(databases: dict[str, str], airflow_db: Path) -> tuple[str, str]:
    execute(
        databases["src"],
        stamped("customers", "updated_at", MINT_TABLE.format(table="customers", cursor="updated_at")),
    )
    execute(
        databases["dst"],
        stamped("contacts", "modified_at", MINT_TABLE.format(table="contacts", cursor="modified_at")),
    )
    execute(databases["src"], "INSERT INTO public.customers (name, email) VALUES ('Ada', 'ada@example.com')")
    return databases["src"], databases["dst"]


def test_a_retried_promote_does_not_insert_a_minted_record_twice(
    mint_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from syncgate.reconcile import store

    erp, crm = mint_sides
    flows = write_spec(tmp_path, "review_mint", MINT_SPEC)
    ok(run(monkeypatch, flows, "review_mint"))
    execute(crm, "INSERT INTO public.contacts (name, email) VALUES ('Zed', 'zed@example.com')")

    # The ERP's insert commits, then its promote dies before the state commits; Airflow retries.
    real_save = store.save
    crashes = []

    def crash_once(conn: Any, flow_id: str, side: str, *args: Any, **kwargs: Any) -> None:
        if side == "erp" and not crashes:
            crashes.append(side)
            raise RuntimeError("worker lost before the state commit")
        real_save(conn, flow_id, side, *args, **kwargs)

    monkeypatch.setattr(store, "save", crash_once)
    ok(run(monkeypatch, flows, "review_mint"))
    assert crashes == ["erp"]
    assert rows(erp, "SELECT count(*) FROM public.customers WHERE email = 'zed@example.com'") == [(1,)]


def test_a_duplicate_match_error_does_not_print_a_pii_match_value(
    mint_sides: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, _ = mint_sides
    flows = write_spec(tmp_path, "review_mint", MINT_SPEC.replace("retries: 1", "retries: 0"))
    execute(erp, "INSERT INTO public.customers (name, email) VALUES ('Ada II', 'ada@example.com')")
    failed = run(monkeypatch, flows, "review_mint")
    assert task_states(failed)["transform_erp"] == "failed"
    errors = rows(erp, "SELECT coalesce(error, '') FROM syncgate.sync_runs WHERE flow_id = 'review_mint'")
    assert errors and "two rows match" in errors[0][0], errors
    assert "ada@example.com" not in errors[0][0]


# -- PostgreSQL <-> the demo CRM over HTTP, both minting ids ----------------------------------

HTTP_FLOW = "review_erp_crm"
HTTP_SPEC = f"""
id: {HTTP_FLOW}
mode: two_way
retries: 0
state_conn_id: src_db
sides:
  erp: {{type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at,
         deletes: hard}}
  crm:
    type: http
    conn_id: crm_api
    endpoint: /v1/customers
    records: data.items
    primary_key: [id]
    cursor: updated_at
    cursor_param: updated_since
    params: {{status: all}}
    pagination: {{style: page, page_param: page, size_param: per_page, size: 50}}
    retry: {{max_attempts: 4, backoff_seconds: 0.01}}
fields:
  name: {{}}
  email: {{}}
  status: {{}}
  tier: {{}}
match: [email]
conflicts:
  default: newest_wins
  tie_break: [erp, crm]
pii: [email]
"""

HTTP_ERP = stamped(
    "customers",
    "updated_at",
    """
CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL, email text, status text, tier int,
                               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO public.customers (name, email, status, tier) VALUES
  ('Ada', 'ada@example.com', 'active', 1), ('Brian', 'brian@example.com', 'lead', 2);
""",
)


@pytest.fixture
def http_sides(
    databases: dict[str, str],
    airflow_db: Path,
    crm_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, Any]:
    crm = crm_factory(customers=0, contacts=0)
    wire_crm(monkeypatch, crm)
    execute(databases["src"], HTTP_ERP)
    return databases["src"], crm


def erp_records(url: str) -> dict[str, tuple[Any, ...]]:
    return {r[0]: r[1:] for r in rows(url, "SELECT email, name, status, tier FROM public.customers")}


def crm_records(crm: Any) -> dict[str, tuple[Any, ...]]:
    return {r["email"]: (r["name"], r["status"], r["tier"]) for r in crm.admin.records("customers")}


def crm_ids(crm: Any) -> dict[str, int]:
    return {r["email"]: r["id"] for r in crm.admin.records("customers")}


def crm_patch(crm: Any, record_id: int, **fields: Any) -> None:
    with crm.client() as client:
        resp = client.patch(f"/v1/customers/{record_id}", json=fields)
        assert resp.status_code == 200, resp.text


def test_an_api_edit_made_during_the_apply_still_reaches_the_other_side(
    http_sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from syncgate.connectors.http import side_writer

    erp, crm = http_sides
    flows = write_spec(tmp_path, HTTP_FLOW, HTTP_SPEC)
    ok(run(monkeypatch, flows, HTTP_FLOW))
    ids = crm_ids(crm)
    assert erp_records(erp) == crm_records(crm)

    execute(erp, "UPDATE public.customers SET name = 'Ada Lovelace' WHERE email = 'ada@example.com'")
    real_write = side_writer.write_records

    def a_user_edits_during_the_apply(flow: Any, writes: Any, *, read_until: Any) -> Any:
        # A CRM user changes another field of the record after the run read the CRM, just
        # before syncgate's PATCH of the name reaches it.
        crm_patch(crm, ids["ada@example.com"], status="inactive")
        return real_write(flow, writes, read_until=read_until)

    monkeypatch.setattr(side_writer, "write_records", a_user_edits_during_the_apply)
    ok(run(monkeypatch, flows, HTTP_FLOW))
    monkeypatch.setattr(side_writer, "write_records", real_write)
    assert crm_records(crm)["ada@example.com"] == ("Ada Lovelace", "inactive", 1)

    ok(run(monkeypatch, flows, HTTP_FLOW))
    ok(run(monkeypatch, flows, HTTP_FLOW))
    assert erp_records(erp)["ada@example.com"] == ("Ada Lovelace", "inactive", 1), (
        "the CRM user's edit never reached the ERP: the sides disagree for good"
    )


def test_changing_a_match_field_on_a_minting_side_does_not_duplicate_the_record(
    http_sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, crm = http_sides
    flows = write_spec(tmp_path, HTTP_FLOW, HTTP_SPEC)
    ok(run(monkeypatch, flows, HTTP_FLOW))
    assert set(crm_records(crm)) == {"ada@example.com", "brian@example.com"}

    execute(erp, "UPDATE public.customers SET email = 'ada@lovelace.example' WHERE email = 'ada@example.com'")
    ok(run(monkeypatch, flows, HTTP_FLOW))
    ok(run(monkeypatch, flows, HTTP_FLOW))
    assert set(erp_records(erp)) == {"ada@lovelace.example", "brian@example.com"}
    assert set(crm_records(crm)) == set(erp_records(erp)), (
        f"the CRM holds {sorted(crm_records(crm))}: Ada twice, under her old and new address"
    )
