"""A two-way flow between two real PostgreSQL databases, run by Airflow's ``dag.test()``.

Both sides stamp ``updated_at`` with a trigger, as applications do: syncgate's own writes come
back with new cursor values and must not count as edits (no ping-pong, no spurious conflict).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, flows_dag_bag, rows, task_states

pytestmark = pytest.mark.integration

SPEC = """
id: customers_two_way
mode: two_way
schedule: "*/5 * * * *"
retries: 0
sides:
  erp: {type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at, deletes: hard}
  crm: {type: postgres, conn_id: dst_db, table: public.contacts, primary_key: [id], cursor: modified_at, deletes: hard}
fields:
  id: {}
  name: {crm: full_name}
  tier: {}
  email: {}
  credit: {}
  since: {}
  attrs: {}
match: [id]
map_values:
  crm: {tier: {gold: "1", silver: "2", bronze: "3"}}
conflicts:
  default: newest_wins
  tie_break: [erp, crm]
  fields:
    email: {system_of_record: crm}
  deletes: update_wins
pii: [email]
quality:
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {column: name}
"""

ERP = """
CREATE TABLE public.customers (id int PRIMARY KEY, name text, tier text, email text,
                               credit numeric(12,2) DEFAULT 750, since timestamptz DEFAULT '2020-01-01 10:00+00',
                               attrs jsonb DEFAULT '{"vip": true, "tags": ["a"]}',
                               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.customers FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO public.customers (id, name, tier, email) VALUES
  (1, 'Ada', 'gold', 'ada@example.com'), (2, 'Brian', 'silver', 'brian@example.com'),
  (3, 'Cleo', 'bronze', 'cleo@example.com');
"""

CRM = """
CREATE TABLE public.contacts (id int PRIMARY KEY, full_name text, tier text, email text,
                              credit numeric(12,2) DEFAULT 10.5, since timestamptz DEFAULT '2021-06-01 08:00+02',
                              attrs jsonb DEFAULT '{"vip": false}',
                              modified_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.modified_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.contacts FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO public.contacts (id, full_name, tier, email) VALUES (4, 'Dana', '1', 'dana@example.com');
"""

TIER = {"1": "gold", "2": "silver", "3": "bronze"}


def erp_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, name, tier, email FROM public.customers ORDER BY id")


def crm_rows(url: str) -> list[tuple[Any, ...]]:
    found = rows(url, "SELECT id, full_name, tier, email FROM public.contacts ORDER BY id")
    return [(i, n, TIER.get(t, t), e) for i, n, t, e in found]


def conflicts(url: str, run_id: str | None = None) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT record_key, field, rule, winner, status, side_values FROM syncgate.sync_conflicts "
        "WHERE flow_id = 'customers_two_way'" + (" AND run_id = %s" if run_id else "") + " ORDER BY id",
        (run_id,) if run_id else None,
    )


def run(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    dag = flows_dag_bag(monkeypatch, flows).dags["customers_two_way"]
    return dag.test()


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "customers_two_way.yml").write_text(textwrap.dedent(SPEC))
    return folder


def test_two_way_sync_merges_resolves_and_does_not_echo(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = databases["src"], databases["dst"]
    execute(erp, ERP)
    execute(crm, CRM)

    first = run(monkeypatch, flows)
    assert set(task_states(first).values()) == {"success"}, task_states(first)
    assert erp_rows(erp) == crm_rows(crm)
    assert len(erp_rows(erp)) == 4
    # Typed values arrive as values: a JSON object stays an object, a decimal and an instant equal.
    shared = "SELECT id, attrs, credit, since FROM {} ORDER BY id"
    assert rows(erp, shared.format("public.customers")) == rows(crm, shared.format("public.contacts"))
    assert rows(crm, "SELECT jsonb_typeof(attrs) FROM public.contacts WHERE id = 1") == [("object",)]
    assert conflicts(erp) == []

    # No edits anywhere: the echoes of the first run's writes (new cursor values) change nothing.
    before = (
        rows(erp, "SELECT id, updated_at FROM public.customers ORDER BY id"),
        rows(crm, "SELECT id, modified_at FROM public.contacts ORDER BY id"),
    )
    quiet = run(monkeypatch, flows)
    assert set(task_states(quiet).values()) == {"success"}
    after = (
        rows(erp, "SELECT id, updated_at FROM public.customers ORDER BY id"),
        rows(crm, "SELECT id, modified_at FROM public.contacts ORDER BY id"),
    )
    assert after == before, "a run without edits wrote to a side"
    assert conflicts(erp) == []

    # Different fields of one record: a clean merge. The same field: newest wins, logged.
    execute(erp, "UPDATE public.customers SET tier = 'silver' WHERE id = 1")
    execute(crm, "UPDATE public.contacts SET full_name = 'Ada L.' WHERE id = 1")
    execute(erp, "UPDATE public.customers SET name = 'Brian (ERP)' WHERE id = 2")
    execute(crm, "UPDATE public.contacts SET full_name = 'Brian (CRM)' WHERE id = 2")
    # email is owned by the CRM: its value wins even when older.
    execute(crm, "UPDATE public.contacts SET email = 'cleo@crm.example' WHERE id = 3")
    execute(erp, "UPDATE public.customers SET email = 'cleo@erp.example' WHERE id = 3")
    third = run(monkeypatch, flows)
    assert set(task_states(third).values()) == {"success"}
    assert erp_rows(erp) == crm_rows(crm)
    merged = {r[0]: r for r in erp_rows(erp)}
    assert merged[1][1:3] == ("Ada L.", "silver")
    assert merged[2][1] == "Brian (CRM)"
    assert merged[3][3] == "cleo@crm.example"
    logged = conflicts(erp, third.run_id)
    assert [(k, f, r, w, s) for k, f, r, w, s, _ in logged] == [
        ('["2"]', "name", "newest_wins", "crm", "resolved"),
        ('["3"]', "email", "system_of_record", "crm", "resolved"),
    ]
    email_values = logged[1][5]
    assert all(str(v).startswith("hmac:") for v in email_values.values()), "pii kept in clear"

    # Delete on one side, edit on the other: update wins, the record is restored and logged.
    execute(erp, "DELETE FROM public.customers WHERE id = 4")
    execute(crm, "UPDATE public.contacts SET tier = '3' WHERE id = 4")
    fourth = run(monkeypatch, flows)
    assert set(task_states(fourth).values()) == {"success"}
    assert erp_rows(erp) == crm_rows(crm)
    assert (4, "Dana", "bronze", "dana@example.com") in erp_rows(erp)
    assert [(f, r, s) for _, f, r, _, s, _ in conflicts(erp, fourth.run_id)] == [
        ("(record)", "deletes:update_wins", "resolved")
    ]

    # A plain delete travels; a second quiet run writes and logs nothing.
    execute(crm, "DELETE FROM public.contacts WHERE id = 3")
    fifth = run(monkeypatch, flows)
    assert set(task_states(fifth).values()) == {"success"}
    assert erp_rows(erp) == crm_rows(crm)
    assert 3 not in {r[0] for r in erp_rows(erp)}
    total = len(conflicts(erp))
    sixth = run(monkeypatch, flows)
    assert set(task_states(sixth).values()) == {"success"}
    assert len(conflicts(erp)) == total


def test_every_task_of_a_sync_run_renews_the_run_s_lease(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    """A run the flow's next run must not find dead holds a lease renewed by each of its tasks
    (state/leases.py); a trigger logs every renewal, each task's span must hold one."""
    from syncgate.db.connect import connect
    from syncgate.state.schema import ensure_state_schema

    erp, crm = databases["src"], databases["dst"]
    execute(erp, ERP)
    execute(crm, CRM)
    with connect("src_db") as conn:
        ensure_state_schema(conn)
        conn.commit()
    execute(
        erp,
        "CREATE TABLE public.renewals (at timestamptz)",
        """CREATE FUNCTION public.log_renewal() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.renewals VALUES (clock_timestamp()); RETURN NEW; END $$""",
        "CREATE TRIGGER renewals AFTER INSERT OR UPDATE OF heartbeat_at ON syncgate.sync_runs "
        "FOR EACH ROW WHEN (NEW.heartbeat_at IS NOT NULL) EXECUTE FUNCTION public.log_renewal()",
    )
    done = run(monkeypatch, flows)
    assert set(task_states(done).values()) == {"success"}
    renewals = [at for (at,) in rows(erp, "SELECT at FROM public.renewals")]
    silent = [
        ti.task_id
        for ti in done.get_task_instances()
        if not any(ti.start_date <= at <= ti.end_date for at in renewals)
    ]
    assert silent == [], f"tasks that never renewed the run's lease: {silent}"


def test_a_crash_between_a_side_s_write_and_its_settle_converges_without_a_spurious_conflict(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    from syncgate.reconcile import store

    erp, crm = databases["src"], databases["dst"]
    execute(erp, ERP)
    execute(crm, CRM)
    assert set(task_states(run(monkeypatch, flows)).values()) == {"success"}

    # The CRM's rows are written, then its promote dies before the state commits.
    execute(erp, "UPDATE public.customers SET name = 'Ada Lovelace' WHERE id = 1")
    real_save = store.save

    def crash(conn: Any, flow_id: str, side: str, *args: Any, **kwargs: Any) -> None:
        if side == "crm":
            raise RuntimeError("crash before the state commit")
        real_save(conn, flow_id, side, *args, **kwargs)

    monkeypatch.setattr(store, "save", crash)
    crashed = run(monkeypatch, flows)
    assert task_states(crashed)["promote_crm"] == "failed"
    assert ("Ada Lovelace",) in rows(crm, "SELECT full_name FROM public.contacts WHERE id = 1")
    monkeypatch.setattr(store, "save", real_save)

    # The next run reads syncgate's own write back from the CRM (new cursor value): no edit, no
    # conflict, nothing written anywhere.
    stamps = rows(erp, "SELECT id, updated_at FROM public.customers ORDER BY id")
    after = run(monkeypatch, flows)
    assert set(task_states(after).values()) == {"success"}
    assert conflicts(erp) == []
    assert erp_rows(erp) == crm_rows(crm)
    assert rows(erp, "SELECT id, updated_at FROM public.customers ORDER BY id") == stamps
    assert rows(erp, "SELECT count(*) FROM syncgate.sync_pending") == [(0,)]


def test_a_parked_record_whose_match_field_is_pii_is_logged_hashed_and_resolves(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp, crm = databases["src"], databases["dst"]
    execute(erp, ERP)
    execute(crm, CRM)
    folder = tmp_path / "pii_flows"
    folder.mkdir()
    spec = (
        textwrap.dedent(SPEC)
        .replace("pii: [email]", "pii: [email, id]")
        .replace("email: {system_of_record: crm}", "email: {system_of_record: crm}\n    tier: manual")
    )
    (folder / "customers_two_way.yml").write_text(spec)
    assert set(task_states(run(monkeypatch, folder)).values()) == {"success"}

    execute(erp, "UPDATE public.customers SET tier = 'bronze' WHERE id = 2")
    execute(crm, "UPDATE public.contacts SET tier = '1' WHERE id = 2")
    parked = run(monkeypatch, folder)
    assert set(task_states(parked).values()) == {"success"}
    logged = rows(erp, "SELECT id, record_key, status FROM syncgate.sync_conflicts WHERE field = 'tier'")
    assert len(logged) == 1 and logged[0][2] == "parked"
    assert logged[0][1].startswith("hmac:")  # the record's id is pii: never in clear in the log
    # Nothing was written for the parked record: each side keeps its own edit.
    assert ("bronze",) in rows(erp, "SELECT tier FROM public.customers WHERE id = 2")
    assert ("1",) in rows(crm, "SELECT tier FROM public.contacts WHERE id = 2")

    execute(erp, f"UPDATE syncgate.sync_conflicts SET resolution = 'crm' WHERE id = {logged[0][0]}")
    resolved = run(monkeypatch, folder)
    assert set(task_states(resolved).values()) == {"success"}
    assert erp_rows(erp) == crm_rows(crm)
    assert ("gold",) in rows(erp, "SELECT tier FROM public.customers WHERE id = 2")
    assert rows(erp, "SELECT status, winner FROM syncgate.sync_conflicts WHERE field = 'tier'") == [
        ("resolved", "crm")
    ]
