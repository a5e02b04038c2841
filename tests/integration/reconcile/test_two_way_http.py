"""A two-way flow between PostgreSQL and the demo CRM over HTTP, run by Airflow's ``dag.test()``.

Both sides mint their own ids (a serial column, the CRM's next id), so records are matched on
e-mail and syncgate keeps the cross-reference of side keys. Both stamp their own change clock
(a trigger, the CRM itself): what syncgate writes comes back with a new cursor value and must not
count as an edit.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crm_push import wire_crm
from helpers import execute, flows_dag_bag, rows, task_states

pytestmark = pytest.mark.integration

FLOW = "customers_erp_crm"
SPEC = f"""
id: {FLOW}
mode: two_way
schedule: "*/5 * * * *"
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
    pagination: {{style: page, page_param: page, size_param: per_page, size: 2}}
    retry: {{max_attempts: 4, backoff_seconds: 0.01}}
    fields:
      lifetime_value: {{path: lifetime_value, type: "numeric(12,2)"}}
fields:
  name: {{}}
  email: {{}}
  status: {{}}
  tier: {{}}
  lifetime_value: {{}}
match: [email]
conflicts:
  default: newest_wins
  tie_break: [erp, crm]
  deletes: update_wins
pii: [email]
quality:
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {{column: name}}
"""

ERP = """
CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, status text,
                               tier int, lifetime_value numeric(12,2) DEFAULT 1250.5,
                               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.customers FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO public.customers (name, email, status, tier) VALUES
  ('Ada', 'ada@example.com', 'active', 1), ('Brian', 'brian@example.com', 'lead', 2),
  ('Eve', 'eve@example.com', 'active', 3);
"""


def erp_records(url: str) -> dict[str, tuple[Any, ...]]:
    found = rows(url, "SELECT email, name, status, tier FROM public.customers")
    return {r[0]: r[1:] for r in found}


def erp_values(url: str) -> dict[str, str]:
    return dict(rows(url, "SELECT email, lifetime_value::text FROM public.customers"))


def crm_values(crm: Any) -> dict[str, str]:
    return {r["email"]: r["lifetime_value"] for r in crm.admin.records("customers")}


def crm_records(crm: Any) -> dict[str, tuple[Any, ...]]:
    records = crm.admin.records("customers")
    emails = [r["email"] for r in records]
    assert len(emails) == len(set(emails)), f"a record was duplicated in the CRM: {sorted(emails)}"
    return {r["email"]: (r["name"], r["status"], r["tier"]) for r in records}


def crm_ids(crm: Any) -> dict[str, int]:
    return {r["email"]: r["id"] for r in crm.admin.records("customers")}


def crm_create(crm: Any, **record: Any) -> int:
    with crm.client() as client:
        resp = client.post("/v1/customers", json=record)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])


def crm_patch(crm: Any, record_id: int, **fields: Any) -> None:
    with crm.client() as client:
        resp = client.patch(f"/v1/customers/{record_id}", json=fields)
        assert resp.status_code == 200, resp.text


def crm_delete(crm: Any, record_id: int) -> None:
    with crm.client() as client:
        assert client.delete(f"/v1/customers/{record_id}").status_code == 204


def crm_writes(crm: Any) -> int:
    return int(crm.admin.stats()["writes_applied"])


def ledger_key(url: str, side: str, email: str) -> Any:
    """The side's key of a record in the cross-reference, its values as text: an API's id lands
    as the type the source first saw it with (text, when the first list was empty)."""
    found = rows(
        url,
        "SELECT side_key FROM syncgate.sync_ledger WHERE flow_id = %s AND side = %s AND record_key = %s",
        (FLOW, side, json.dumps([email])),
    )
    return {k: str(v) for k, v in found[0][0].items()} if found else None


def key(record_id: Any) -> dict[str, str]:
    return {"id": str(record_id)}


def conflicts(url: str, run_id: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT record_key, field, rule, winner, status FROM syncgate.sync_conflicts "
        "WHERE flow_id = %s AND run_id = %s ORDER BY record_key, field",
        (FLOW, run_id),
    )


def logged(record_key: str) -> str:
    """The conflict log's name of a record whose match field is pii: its keyed hash."""
    import hashlib
    import hmac

    return "hmac:" + hmac.new(b"test-key", record_key.encode(), hashlib.sha256).hexdigest()


def all_conflicts(url: str) -> int:
    return int(rows(url, "SELECT count(*) FROM syncgate.sync_conflicts WHERE flow_id = %s", (FLOW,))[0][0])


def erp_stamps(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, updated_at FROM public.customers ORDER BY id")


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / f"{FLOW}.yml").write_text(textwrap.dedent(SPEC))
    return folder


@pytest.fixture
def sides(
    databases: dict[str, str],
    airflow_db: Path,
    crm_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, Any]:
    crm = crm_factory(customers=0, contacts=0)
    wire_crm(monkeypatch, crm)
    execute(databases["src"], ERP)
    return databases["src"], crm


def run(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    dag_run = flows_dag_bag(monkeypatch, flows).dags[FLOW].test()
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    return dag_run


def tick() -> None:
    """Keep two edits' change times apart (both sides stamp microseconds of the same clock)."""
    time.sleep(0.05)


def test_first_sync_goes_both_ways_and_a_quiet_run_writes_nothing(
    sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = sides
    cleo = crm_create(crm, name="Cleo", email="cleo@example.com", status="inactive", tier=4)
    # The same record created on both sides before any sync: matched on e-mail, not duplicated.
    # Equal values, the decimal spelled as the API spells it ("1250.50" against numeric 1250.5).
    eve = crm_create(
        crm, name="Eve", email="eve@example.com", status="active", tier=3, lifetime_value="1250.50"
    )

    first = run(monkeypatch, flows)
    assert erp_records(erp) == crm_records(crm)
    assert set(erp_records(erp)) == {
        "ada@example.com",
        "brian@example.com",
        "cleo@example.com",
        "eve@example.com",
    }
    assert conflicts(erp, first.run_id) == []
    # Exact decimals reach the API as decimal strings and come back equal, in both directions.
    assert erp_values(erp) == crm_values(crm)
    assert erp_values(erp)["ada@example.com"] == "1250.50"
    ids = crm_ids(crm)
    assert ids["cleo@example.com"] == cleo and ids["eve@example.com"] == eve
    # The ids the CRM minted for the ERP's records are in the cross-reference.
    for email in ("ada@example.com", "brian@example.com", "cleo@example.com", "eve@example.com"):
        assert ledger_key(erp, "crm", email) == key(ids[email])
    erp_id = rows(erp, "SELECT id FROM public.customers WHERE email = 'cleo@example.com'")[0][0]
    assert ledger_key(erp, "erp", "cleo@example.com") == key(erp_id)

    # No edits anywhere: the echoes of the first run's writes (new cursor values on both sides,
    # stamped by the trigger and by the CRM) change nothing and write nothing.
    writes, stamps = crm_writes(crm), erp_stamps(erp)
    quiet = run(monkeypatch, flows)
    assert crm_writes(crm) == writes, "a run without edits wrote to the CRM"
    assert erp_stamps(erp) == stamps, "a run without edits wrote to the ERP"
    assert conflicts(erp, quiet.run_id) == []


def test_concurrent_edits_merge_by_field_and_conflicts_follow_the_rule(
    sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = sides
    crm_create(crm, name="Cleo", email="cleo@example.com", status="inactive", tier=4)
    run(monkeypatch, flows)
    ids = crm_ids(crm)

    # Different fields of one record: a clean merge.
    execute(erp, "UPDATE public.customers SET tier = 2 WHERE email = 'ada@example.com'")
    crm_patch(crm, ids["ada@example.com"], name="Ada L.")
    # The same field, CRM first then ERP: the ERP's newer value wins, logged.
    crm_patch(crm, ids["brian@example.com"], name="Brian (CRM)")
    tick()
    execute(erp, "UPDATE public.customers SET name = 'Brian (ERP)' WHERE email = 'brian@example.com'")
    # The same field, ERP first then CRM: the CRM's newer value wins.
    execute(erp, "UPDATE public.customers SET status = 'lead' WHERE email = 'cleo@example.com'")
    tick()
    crm_patch(crm, ids["cleo@example.com"], status="active")
    # The same value written on both sides is no conflict.
    execute(erp, "UPDATE public.customers SET tier = 5 WHERE email = 'eve@example.com'")
    crm_patch(crm, ids["eve@example.com"], tier=5)

    edited = run(monkeypatch, flows)
    assert erp_records(erp) == crm_records(crm)
    merged = erp_records(erp)
    assert merged["ada@example.com"] == ("Ada L.", "active", 2)
    assert merged["brian@example.com"][0] == "Brian (ERP)"
    assert merged["cleo@example.com"][1] == "active"
    assert merged["eve@example.com"][2] == 5
    assert sorted(conflicts(erp, edited.run_id)) == sorted([
        (logged('["brian@example.com"]'), "name", "newest_wins", "erp", "resolved"),
        (logged('["cleo@example.com"]'), "status", "newest_wins", "crm", "resolved"),
    ])  # fmt: skip
    # The match field is pii: the log names the record by a keyed hash, never the address.
    assert not any("example.com" in str(row) for row in conflicts(erp, edited.run_id))
    # Updates went to the records the CRM already had: no new ids.
    assert crm_ids(crm) == ids

    total, writes = all_conflicts(erp), crm_writes(crm)
    run(monkeypatch, flows)
    assert all_conflicts(erp) == total and crm_writes(crm) == writes


def test_a_delete_on_one_side_against_an_edit_on_the_other(
    sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = sides
    run(monkeypatch, flows)
    ids = crm_ids(crm)

    # Deleted in the ERP, edited in the CRM: update wins, the record comes back to the ERP.
    execute(erp, "DELETE FROM public.customers WHERE email = 'ada@example.com'")
    crm_patch(crm, ids["ada@example.com"], tier=4)
    # Deleted in the ERP, untouched in the CRM: the delete travels.
    execute(erp, "DELETE FROM public.customers WHERE email = 'brian@example.com'")

    deleted = run(monkeypatch, flows)
    assert erp_records(erp) == crm_records(crm)
    assert erp_records(erp)["ada@example.com"] == ("Ada", "active", 4)
    assert "brian@example.com" not in crm_records(crm)
    assert [(k, f, r, s) for k, f, r, _, s in conflicts(erp, deleted.run_id)] == [
        (logged('["ada@example.com"]'), "(record)", "deletes:update_wins", "resolved")
    ]
    # The restored ERP row has a new id, now in the cross-reference.
    restored = rows(erp, "SELECT id FROM public.customers WHERE email = 'ada@example.com'")[0][0]
    assert ledger_key(erp, "erp", "ada@example.com") == key(restored)

    # A record the CRM lost (deleted there: an API list cannot show deletes) and then edited in
    # the ERP is created in the CRM again under a new id, which the cross-reference follows.
    crm_delete(crm, ids["eve@example.com"])
    execute(erp, "UPDATE public.customers SET tier = 1 WHERE email = 'eve@example.com'")
    run(monkeypatch, flows)
    assert erp_records(erp) == crm_records(crm)
    new_eve = crm_ids(crm)["eve@example.com"]
    assert new_eve != ids["eve@example.com"]
    assert ledger_key(erp, "crm", "eve@example.com") == key(new_eve)


def test_a_record_created_on_both_sides_and_one_created_in_postgres(
    sides: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = sides
    run(monkeypatch, flows)

    # Created on both sides between runs, with the same values: one record, no conflict.
    execute(
        erp,
        "INSERT INTO public.customers (name, email, status, tier) VALUES ('Finn', 'finn@example.com', 'lead', 1)",
    )
    finn = crm_create(
        crm, name="Finn", email="finn@example.com", status="lead", tier=1, lifetime_value="1250.50"
    )
    # Created in PostgreSQL only: the CRM mints its id.
    execute(
        erp,
        "INSERT INTO public.customers (name, email, status, tier) VALUES ('Gus', 'gus@example.com', 'active', 2)",
    )
    created = run(monkeypatch, flows)
    assert erp_records(erp) == crm_records(crm)
    assert conflicts(erp, created.run_id) == []
    ids = crm_ids(crm)
    assert ids["finn@example.com"] == finn
    assert ledger_key(erp, "crm", "finn@example.com") == key(finn)
    gus = ids["gus@example.com"]
    assert ledger_key(erp, "crm", "gus@example.com") == key(gus)

    # Later edits in PostgreSQL update that same CRM record, never a second one.
    for tier in (3, 4):
        execute(erp, f"UPDATE public.customers SET tier = {tier} WHERE email = 'gus@example.com'")
        run(monkeypatch, flows)
        assert crm_ids(crm)["gus@example.com"] == gus
        assert crm_records(crm)["gus@example.com"] == ("Gus", "active", tier)
    updates = [w for w in crm.admin.writes() if w["id"] == gus]
    assert [w["op"] for w in updates] == ["create", "update", "update"]


def test_a_record_the_api_refuses_fails_the_side_naming_its_id_not_its_values(
    sides: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    flows: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    erp, crm = sides
    run(monkeypatch, flows)
    ids = crm_ids(crm)
    # The CRM accepts only active / inactive / lead: a 422 for this record.
    execute(erp, "UPDATE public.customers SET status = 'Zanzibar-VIP' WHERE email = 'brian@example.com'")
    execute(erp, "UPDATE public.customers SET tier = 9 WHERE email = 'ada@example.com'")
    dag_run = flows_dag_bag(monkeypatch, flows).dags[FLOW].test()
    states = task_states(dag_run)
    assert states["promote_crm"] == "failed" and states["promote_erp"] == "success"
    logged = caplog.text + "".join(capfd.readouterr())
    assert f"update of id={ids['brian@example.com']}" in logged
    assert "HTTP 422 status" in logged
    assert "Zanzibar-VIP" not in logged and "brian@example.com" not in logged
    # The other record of the apply still reached the CRM.
    assert crm_records(crm)["ada@example.com"][2] == 9
