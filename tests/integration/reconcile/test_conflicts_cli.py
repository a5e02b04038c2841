"""A parked conflict's whole loop through the real command line and Airflow's ``dag.test()``.

A ``manual`` field changed differently on both sides parks the record (nothing is written for
it); ``python -m syncgate conflicts list`` shows it; ``conflicts resolve --side crm`` records
the choice; the next run writes the CRM's value to every side and closes the conflict row.
The run reports show the conflicts of their run.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, flows_dag_bag, rows, task_states

from syncgate.cli.main import main
from syncgate.report.paths import report_files

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FLOW = "customers_manual"

SPEC = f"""
id: {FLOW}
mode: two_way
retries: 0
sides:
  erp: {{type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at, deletes: hard}}
  crm: {{type: postgres, conn_id: dst_db, table: public.contacts, primary_key: [id], cursor: modified_at, deletes: hard}}
fields:
  id: {{}}
  name: {{crm: full_name}}
  tier: {{}}
match: [id]
map_values:
  crm: {{tier: {{gold: "1", silver: "2", bronze: "3"}}}}
conflicts:
  default: newest_wins
  fields: {{tier: manual}}
"""

ERP = """
CREATE TABLE public.customers (id int PRIMARY KEY, name text, tier text,
                               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.customers FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO public.customers (id, name, tier) VALUES (1, 'Ada', 'gold'), (2, 'Brian', 'silver');
"""

CRM = """
CREATE TABLE public.contacts (id int PRIMARY KEY, full_name text, tier text,
                              modified_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.modified_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.contacts FOR EACH ROW EXECUTE FUNCTION stamp();
"""


def erp_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, name, tier FROM public.customers ORDER BY id")


def crm_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, full_name, tier FROM public.contacts ORDER BY id")


def conflict_rows(url: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT id, record_key, field, rule, status, winner, value, resolution, resolved_by "
        "FROM syncgate.sync_conflicts WHERE flow_id = %s ORDER BY id",
        (FLOW,),
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m syncgate ...`` in a child process, with this test's connections and flows folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "include")}
    return subprocess.run(
        [sys.executable, "-m", "syncgate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / f"{FLOW}.yml").write_text(textwrap.dedent(SPEC))
    (folder / "orders_one_way.yml").write_text(
        json.dumps({
            "id": "orders_one_way",
            "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"]},
            "target": {"type": "postgres", "conn_id": "dst_db", "table": "public.orders_copy"},
        })
    )  # fmt: skip
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(folder))
    return folder


def run(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    dag_run = flows_dag_bag(monkeypatch, flows).dags[FLOW].test()
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    return dag_run


def report(run_id: str) -> dict[str, Any]:
    json_file, html_file = report_files(FLOW, run_id)
    assert html_file.is_file(), f"no run report for {run_id}"
    return json.loads(json_file.read_text())


def test_a_parked_conflict_is_listed_resolved_by_command_and_applied_by_the_next_run(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, flows: Path
) -> None:
    erp, crm = databases["src"], databases["dst"]
    execute(erp, ERP)
    execute(crm, CRM)
    run(monkeypatch, flows)
    assert erp_rows(erp) == [(1, "Ada", "gold"), (2, "Brian", "silver")]
    assert crm_rows(crm) == [(1, "Ada", "1"), (2, "Brian", "2")]

    # Nothing to list before there is a conflict.
    assert in_process("conflicts", "list", "--flow", FLOW) == (
        0,
        f"No parked conflicts for flow {FLOW}.\n",
        "",
    )

    # tier is manual: changed differently on both sides, record 1 is parked. The same run's
    # edit of name on the CRM is parked with it (nothing is written for a parked record);
    # record 2's clean edit travels.
    execute(erp, "UPDATE public.customers SET tier = 'silver' WHERE id = 1")
    execute(crm, "UPDATE public.contacts SET tier = '3', full_name = 'Ada L.' WHERE id = 1")
    execute(erp, "UPDATE public.customers SET name = 'Brian B.' WHERE id = 2")
    parking = run(monkeypatch, flows)
    assert erp_rows(erp) == [(1, "Ada", "silver"), (2, "Brian B.", "silver")]
    assert crm_rows(crm) == [(1, "Ada L.", "3"), (2, "Brian B.", "2")]
    ((conflict_id, key, field, rule, status, winner, value, resolution, by),) = conflict_rows(erp)
    assert (key, field, rule, status, winner, value, resolution, by) == (
        '["1"]',
        "tier",
        "manual",
        "parked",
        None,
        None,
        None,
        None,
    )

    # The real entry point lists it (JSON), and as a table.
    listed = cli("conflicts", "list", "--flow", FLOW, "--json")
    assert listed.returncode == 0, listed.stderr
    (shown,) = json.loads(listed.stdout)
    assert (shown["id"], shown["record_key"], shown["field"], shown["status"]) == (
        conflict_id,
        '["1"]',
        "tier",
        "parked",
    )
    assert shown["side_values"] == {"erp": "silver", "crm": "bronze"} and shown["run_id"] == parking.run_id
    code, table, _ = in_process("conflicts", "list")  # every sync flow; the one-way flow has none
    assert code == 0 and table.splitlines()[0].split()[:3] == ["id", "flow", "detected"]
    (line,) = table.splitlines()[1:]
    assert line.split()[:2] == [str(conflict_id), FLOW] and line.endswith('erp="silver"  crm="bronze"')
    assert (
        in_process("conflicts", "list", "--status", "resolved")[1]
        == "No resolved conflicts for any sync flow.\n"
    )

    # The parking run's report shows it.
    parked_report = report(parking.run_id)["conflicts"]
    assert (parked_report["total"], parked_report["parked"]) == (1, 1)
    assert parked_report["by_field_rule"] == [{"field": "tier", "rule": "manual", "count": 1}]
    assert [(r["id"], r["status"]) for r in parked_report["rows"]] == [(conflict_id, "parked")]

    # Refusals: exit code 2, a message saying why, nothing changed.
    refused = cli("conflicts", "resolve", str(conflict_id), "--side", "billing", "--by", "alice")
    assert refused.returncode == 2 and "has no side 'billing'; choose one of: erp, crm" in refused.stderr
    code, _, err = in_process("conflicts", "resolve", str(conflict_id + 100), "--side", "crm")
    assert code == 2 and f"no conflict {conflict_id + 100} in the conflict log of any sync flow" in err
    code, _, err = in_process("conflicts", "list", "--flow", "orders_one_way")
    assert code == 2 and "one-way flow" in err
    assert conflict_rows(erp)[0][7:] == (None, None)

    resolved = cli("conflicts", "resolve", str(conflict_id), "--side", "crm", "--by", "alice")
    assert resolved.returncode == 0, resolved.stderr
    assert (
        f"Conflict {conflict_id} of flow {FLOW}" in resolved.stdout
        and "side 'crm' chosen by alice" in resolved.stdout
    )
    assert conflict_rows(erp)[0][4:] == ("parked", None, None, "crm", "alice")
    code, table, _ = in_process("conflicts", "list", "--flow", FLOW)
    assert "parked -> crm" in table

    # The next run applies the choice: the CRM's tier (and the parked name edit) on every side.
    applying = run(monkeypatch, flows)
    assert erp_rows(erp) == [(1, "Ada L.", "bronze"), (2, "Brian B.", "silver")]
    assert crm_rows(crm) == [(1, "Ada L.", "3"), (2, "Brian B.", "2")]
    (row,) = conflict_rows(erp)
    assert row[4:] == ("resolved", "crm", "bronze", "crm", "alice")
    applied_report = report(applying.run_id)["conflicts"]
    assert [(r["id"], r["status"], r["winner"]) for r in applied_report["rows"]] == [
        (conflict_id, "resolved", "crm")
    ]

    # A resolved conflict cannot be resolved again; a quiet run writes and logs nothing more.
    code, _, err = in_process("conflicts", "resolve", str(conflict_id), "--side", "erp")
    assert code == 2 and f"conflict {conflict_id} of flow {FLOW!r} is resolved, not parked" in err
    run(monkeypatch, flows)
    assert erp_rows(erp) == [(1, "Ada L.", "bronze"), (2, "Brian B.", "silver")]
    assert len(conflict_rows(erp)) == 1
