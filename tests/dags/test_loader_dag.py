"""The one-file loader DAG of an installed syncgate (docs/installing.md), parsed by Airflow's DagBag."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncgate import settings
from syncgate.dag_factory import INVALID_SPECS_DAG_ID
from syncgate.observe.monitor_dag import MONITOR_DAG_ID

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "installing.md"
DOCUMENTED_FOLDER = "/srv/syncgate/flows"


def documented_loader() -> str:
    """The loader file exactly as docs/installing.md shows it."""
    (code,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert DOCUMENTED_FOLDER in code
    return str(code)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A DAG folder holding the documented loader, pointed at a flows folder with one flow."""
    monkeypatch.delenv("SYNCGATE_FLOWS_DIR", raising=False)
    # The loader sets this process's flows folder: parsing here must not leak into other tests.
    monkeypatch.setattr(settings, "_loader_flows_dir", None)
    flows, dags = tmp_path / "flows", tmp_path / "dags"
    flows.mkdir()
    dags.mkdir()
    (flows / "erp_orders.yml").write_text((REPO / "dags" / "flows" / "erp_orders.yml").read_text())
    loader = dags / "syncgate_dags.py"
    loader.write_text(documented_loader().replace(DOCUMENTED_FOLDER, str(flows)))
    return {"flows": flows, "dags": dags, "loader": loader}


def bag(dags: Path):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dags))


def test_the_documented_file_loads_every_flow_and_the_monitor(deployment: dict[str, Path]) -> None:
    loaded = bag(deployment["dags"])  # safe mode on: the file must say "airflow" and "dag"
    assert loaded.import_errors == {}
    assert sorted(loaded.dag_ids) == sorted(["erp_orders", MONITOR_DAG_ID])
    # The rest of this process (the monitor task, failure alerts) reads the same folder.
    assert settings.flows_dir() == deployment["flows"]
    assert str(deployment["flows"]) in loaded.dags[MONITOR_DAG_ID].doc_md


def test_the_variable_alone_names_the_folder(
    deployment: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment["loader"].write_text(documented_loader().replace(f'"{DOCUMENTED_FOLDER}"', ""))
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(deployment["flows"]))
    loaded = bag(deployment["dags"])
    assert loaded.import_errors == {} and "erp_orders" in loaded.dag_ids


@pytest.mark.parametrize(
    ("folder", "variable", "message"),
    [
        ("{tmp}/missing", None, "the flows folder does not exist"),
        ("flows", None, "must be an absolute path"),
        ("{flows}", "{tmp}/elsewhere", "contradicts SYNCGATE_FLOWS_DIR={tmp}/elsewhere"),
    ],
)
def test_a_wrong_folder_is_an_import_error_that_says_what_to_fix(
    deployment: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    folder: str,
    variable: str | None,
    message: str,
) -> None:
    names = {"tmp": str(deployment["flows"].parent), "flows": str(deployment["flows"])}
    deployment["loader"].write_text(documented_loader().replace(DOCUMENTED_FOLDER, folder.format(**names)))
    if variable:
        monkeypatch.setenv("SYNCGATE_FLOWS_DIR", variable.format(**names))
    loaded = bag(deployment["dags"])
    assert "erp_orders" not in loaded.dag_ids and MONITOR_DAG_ID not in loaded.dag_ids
    [(path, error)] = loaded.import_errors.items()
    assert path == str(deployment["loader"]) and message.format(**names) in error


def test_a_bad_defaults_file_fails_the_monitor_only(deployment: dict[str, Path]) -> None:
    (deployment["flows"] / "_defaults.yml").write_text("alerts:\n  renotify_evry: 1h\n")
    loaded = bag(deployment["dags"])
    assert "erp_orders" in loaded.dag_ids and MONITOR_DAG_ID not in loaded.dag_ids
    [(path, error)] = loaded.import_errors.items()
    assert path == str(deployment["loader"]) and "alerts.renotify_evry: unknown key" in error


def test_invalid_specs_fail_alone(deployment: dict[str, Path]) -> None:
    (deployment["flows"] / "broken.yml").write_text("id: broken\n")
    loaded = bag(deployment["dags"])
    assert {"erp_orders", MONITOR_DAG_ID} <= set(
        loaded.dag_ids
    ) and INVALID_SPECS_DAG_ID not in loaded.dag_ids
    [(path, error)] = loaded.import_errors.items()
    assert "broken.yml" in error
