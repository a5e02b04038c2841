"""The "Sync report" link: on every flow's verify and promote tasks only, and registered by the
shipped plugin without being attached to any other operator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]


def test_only_verify_and_promote_of_each_flow_carry_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from syncgate.observe.monitor_dag import MONITOR_DAG_ID
    from syncgate.report.links import LINK_NAME, SyncReportLink

    monkeypatch.delenv("SYNCGATE_FLOWS_DIR", raising=False)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.dags and bag.import_errors == {}
    for dag in bag.dags.values():
        if dag.dag_id == MONITOR_DAG_ID or "reconcile" in dag.task_ids:
            continue  # not a one-way flow: the monitor has no report, sync flows have no link yet
        linked = {
            t.task_id
            for t in dag.tasks
            if any(isinstance(link, SyncReportLink) for link in t.operator_extra_links)
        }
        assert linked == {"verify", "promote"}, dag.dag_id
        # What the API server sees: the serialized DAG names the link on those two tasks only.
        encoded = DagSerialization.to_dict(dag)["dag"]["tasks"]
        links = {t["__var"]["task_id"]: t["__var"].get("_operator_extra_links") for t in encoded}
        assert links == {
            "extract": None, "transform": None, "load": None,
            "verify": {LINK_NAME: "_link_syncgate_report"}, "promote": {LINK_NAME: "_link_syncgate_report"},
        }  # fmt: skip


def test_the_plugin_registers_the_link_for_no_other_operator(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "PYTHONPATH": str(REPO / "include"),
    }
    listed = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "-o", "json"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    # Airflow may log to stdout before the JSON document: take the document's line.
    document = next(line for line in listed.stdout.splitlines() if line.startswith("[{"))
    plugins = {p["name"]: p for p in json.loads(document)}
    ours = plugins["syncgate_links"]
    assert ours["operator_extra_links"] == ["<syncgate.report.links.SyncReportLink object>"]
    assert ours["global_operator_extra_links"] == []

    from syncgate.report.links import SyncReportLink

    assert SyncReportLink.operators == []  # binds to no operator class: flows attach it per task
