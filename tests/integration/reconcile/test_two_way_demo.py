"""The shipped two-way demo flow ``erp_crm_customers_two_way`` on the demo ERP's own schema and a
demo CRM, driven by the demo's own partner seed and conflict script (``demo.two_way``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crm_push import wire_crm
from helpers import REPO, execute, flows_dag_bag, rows, task_states

from demo import two_way

pytestmark = pytest.mark.integration

FLOW = "erp_crm_customers_two_way"


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    shipped = (REPO / "dags" / "flows" / f"{FLOW}.yml").read_text()
    (folder / f"{FLOW}.yml").write_text(f"retries: 0\n{shipped}")
    return folder


def run(monkeypatch: pytest.MonkeyPatch, flows: Path) -> Any:
    dag_run = flows_dag_bag(monkeypatch, flows).dags[FLOW].test()
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    return dag_run


def erp_partners(url: str) -> dict[str, str]:
    return {email: name for email, (_, name) in two_way.erp_partners(url).items()}


def crm_partners(client: Any) -> dict[str, str]:
    return {email: name for email, (_, name) in two_way.crm_partners(client).items()}


def test_the_demo_flow_syncs_partners_both_ways_and_logs_the_demo_conflicts(
    databases: dict[str, str],
    airflow_db: Path,
    crm_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    flows: Path,
) -> None:
    erp, warehouse = databases["src"], databases["dst"]
    execute(erp, (REPO / "include" / "demo" / "erp_schema.sql").read_text())
    # An enterprise customer (erp_accounts_to_crm's) and CRM customers outside the partner slice.
    execute(erp, "INSERT INTO public.customers (id, name, email, segment, updated_at) "
                 "VALUES (7, 'Acme AG', 'ops@acme.example', 'enterprise', now())")  # fmt: skip
    crm = crm_factory(customers=30, contacts=0)
    wire_crm(monkeypatch, crm)
    monkeypatch.setenv("AIRFLOW_CONN_ERP_DB", erp)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", warehouse)
    with crm.client() as client:
        assert two_way.seed(erp, client) == "8 partner(s) created in the ERP, 4 in the CRM"
        assert two_way.seed(erp, client) == "0 partner(s) created in the ERP, 0 in the CRM"

        run(monkeypatch, flows)
        assert erp_partners(erp) == crm_partners(client)
        assert len(erp_partners(erp)) == 12
        # Only partners moved: the CRM's other customers and the ERP's enterprise one stayed put.
        assert len(crm.admin.records("customers")) == 30 + 12
        assert rows(erp, "SELECT count(*) FROM public.customers")[0][0] == 1 + 12
        crm_born = rows(erp, "SELECT id, segment FROM public.customers WHERE email LIKE 'partner09@%'")
        assert crm_born[0][0] >= 5_000_001 and crm_born[0][1] == "partner"

        changes = two_way.conflicts(erp, client)
        assert len(changes) == 4
        edited = run(monkeypatch, flows)
        partners = erp_partners(erp)
        assert partners == crm_partners(client)
        logged = rows(
            warehouse,
            "SELECT record_key, field, rule, winner, status FROM syncgate.sync_conflicts "
            "WHERE flow_id = %s AND run_id = %s ORDER BY record_key",
            (FLOW, edited.run_id),
        )
        assert [(f, r, s) for _, f, r, _, s in logged] == [("name", "newest_wins", "resolved")] * 3
        # The side that edited last won: CRM, ERP, CRM (the script alternates).
        assert [w for *_, w, _ in logged] == ["crm", "erp", "crm"]
        assert sum("(ERP edit" in n for n in partners.values()) == 2  # one conflict won + the one-sided edit
        assert sum("(CRM edit" in n for n in partners.values()) == 2

        writes = crm.admin.stats()["writes_applied"]
        run(monkeypatch, flows)
        assert crm.admin.stats()["writes_applied"] == writes
