"""A broken spec breaks only its own DAG, also under hostile input (issue 13.1, 13.3).

The flows folder is the shipped one plus hostile files; the DAG file is bagged by Airflow's own
DagBag, which enforces ``dagbag_import_timeout`` itself: past it the whole file is one import
error and every flow disappears. So the proof is that the other flows are all there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncgate.observe.monitor_dag import MONITOR_DAG_ID
from syncgate.spec.loader import load_specs

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "dags" / "flows"


def alias_bomb(spec: str, depth: int) -> str:
    """The issue's shape: aliases nested under ``quality.expectations[].meta``, 10 ** depth leaves."""
    levels = ["      meta:", "        l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"        l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, depth)]
    anchor = "      kwargs: {column: updated_at}"
    assert anchor in spec
    return spec.replace(anchor, anchor + "\n" + "\n".join(levels))


@pytest.fixture
def hostile_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(SHIPPED, folder)
    orders = (SHIPPED / "erp_orders.yml").read_text()
    for n in range(3):  # each would expand to a million values (~27 s and ~1 GB apiece before the bounds)
        (folder / f"bomb_{n}.yml").write_text(
            alias_bomb(orders.replace("id: erp_orders", f"id: bomb_{n}"), 6)
        )
    # Big and valid: a 36 MB spec took 87 s to build. The size limit refuses it unread.
    padding = "\n".join(f"# {'x' * 100}" for _ in range(60_000))
    (folder / "huge.yml").write_text(orders.replace("id: erp_orders", "id: huge_flow") + padding)
    (folder / "cycle.yml").write_text(orders.replace("id: erp_orders", "id: cycle_flow") + "extra: &c [*c]\n")
    # The copied spec: sorted first, same id, `write: replace`.
    (folder / "aa_dup.yml").write_text(
        orders.replace("write: merge", "write: replace").replace("  cursor: updated_at\n", "")
    )
    return folder


def test_hostile_specs_leave_every_other_flow_loaded(
    monkeypatch: pytest.MonkeyPatch, hostile_flows: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(hostile_flows))
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "30")  # Airflow's default, enforced by DagBag
    bag = DagBag(dag_folder=str(REPO / "dags"))

    errors = "\n".join(bag.import_errors.values())
    assert "DagBag import timeout" not in errors
    others = {i.spec.id for i in load_specs(SHIPPED) if i.spec is not None} - {"erp_orders"}
    assert len(others) >= 5
    assert sorted(bag.dag_ids) == sorted([*others, MONITOR_DAG_ID])
    # Each hostile file is its own import error, naming the file and why.
    for name in ("bomb_0.yml", "bomb_1.yml", "bomb_2.yml"):
        assert f"{name}:" in errors
    assert "expands to more than" in errors
    assert "huge.yml:" in errors and "SYNCGATE_SPEC_MAX_BYTES" in errors
    assert "cycle.yml:" in errors and "cycle" in errors
    # The duplicated id: neither the copy nor the original runs, both files named in each error.
    assert "erp_orders" not in bag.dag_ids
    assert errors.count("id: 'erp_orders' is claimed by aa_dup.yml and erp_orders.yml") == 2


def test_a_duplicate_id_stops_only_that_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "flows"
    shutil.copytree(SHIPPED, folder)
    shutil.copy(SHIPPED / "erp_products.yml", folder / "erp_products_copy.yaml")
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(folder))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    shipped = {i.spec.id for i in load_specs(SHIPPED) if i.spec is not None}
    assert sorted(bag.dag_ids) == sorted([*(shipped - {"erp_products"}), MONITOR_DAG_ID])
    [errors] = bag.import_errors.values()
    assert "erp_products.yml" in errors and "erp_products_copy.yaml" in errors
