"""A task process builds only its own flow's DAG (Airflow's parsing context), nothing less safe.

Airflow sets ``_AIRFLOW_PARSING_CONTEXT_DAG_ID`` in the process that runs a task; the DAG file
then builds that one DAG instead of one per spec (``dag_factory._dag_being_run``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncgate.dag_factory import INVALID_SPECS_DAG_ID, build_dags
from syncgate.spec.loader import load_specs

pytestmark = pytest.mark.dags

SHIPPED = Path(__file__).resolve().parents[2] / "dags" / "flows"
CONTEXT = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"


def test_a_task_process_builds_its_own_flow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    every = build_dags(SHIPPED)
    assert len(every) > 2
    for dag_id in ("erp_orders_live", "erp_crm_customers_two_way"):
        monkeypatch.setenv(CONTEXT, dag_id)
        built = build_dags(SHIPPED)
        assert list(built) == [dag_id]
        assert [t.task_id for t in built[dag_id].tasks] == [t.task_id for t in every[dag_id].tasks]


def test_outside_a_task_every_flow_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTEXT, raising=False)
    shipped = sorted(i.spec.id for i in load_specs(SHIPPED) if i.spec is not None)
    assert sorted(build_dags(SHIPPED)) == shipped


def test_a_duplicate_id_is_still_stopped_in_the_task_that_runs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The other specs are loaded even when not built: a second file claiming the id stops it."""
    folder = tmp_path / "flows"
    shutil.copytree(SHIPPED, folder)
    shutil.copy(SHIPPED / "erp_products.yml", folder / "aa_copy.yml")
    monkeypatch.setenv(CONTEXT, "erp_products")
    built = build_dags(folder)
    assert "erp_products" not in built
    assert INVALID_SPECS_DAG_ID in built  # the import error names both files
