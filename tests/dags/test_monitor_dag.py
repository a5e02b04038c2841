"""The monitor DAG: policy, schedule from the environment, a bad defaults file as an import error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_dagbag import fresh_parse

from syncgate.observe.monitor_dag import MONITOR_DAG_ID

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


def dagbag(monkeypatch: pytest.MonkeyPatch, flows: Path | None = None):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    if flows is not None:
        monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))
    else:
        monkeypatch.delenv("SYNCGATE_FLOWS_DIR", raising=False)
    return DagBag(dag_folder=str(DAGS))


def test_monitor_dag_policy_and_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_MONITOR_SCHEDULE", "*/3 * * * *")
    bag = dagbag(monkeypatch)
    assert bag.import_errors == {}
    dag = bag.dags[MONITOR_DAG_ID]
    assert "syncgate" in dag.tags and "monitor" in dag.tags
    assert [t.task_id for t in dag.tasks] == ["evaluate"]
    assert dag.max_active_runs == 1 and not dag.catchup
    assert not dag.get_task("evaluate").multiple_outputs  # one XCom, not one per key
    assert dag.timetable.expression == "*/3 * * * *"
    assert dag.doc_md and "_defaults.yml" in dag.doc_md and "```yaml" in dag.doc_md
    assert all(t.owner == "data-platform" for t in dag.tasks)


def test_a_bad_defaults_file_fails_the_monitor_dag_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "erp_orders.yml").write_text((REPO / "dags" / "flows" / "erp_orders.yml").read_text())
    (tmp_path / "_defaults.yml").write_text(
        textwrap.dedent(
            """
            alerts:
              notifiers:
                - {type: email, conn_id: smtp_alerts, to: [not-an-address]}
              renotify_evry: 1h
            """
        )
    )
    bag = dagbag(monkeypatch, tmp_path)
    assert "erp_orders" in bag.dag_ids and MONITOR_DAG_ID not in bag.dag_ids
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("syncgate_monitor.py")
    assert "invalid defaults file" in error and "_defaults.yml" in error
    assert "alerts.notifiers.0.email.to.0: not an e-mail address" in error
    assert "alerts.renotify_evry: unknown key" in error
    assert "not-an-address" not in error  # addresses are PII: never echoed


def test_a_bad_schedule_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_MONITOR_SCHEDULE", "every five minutes")
    bag = dagbag(monkeypatch)
    errors = "\n".join(bag.import_errors.values())
    assert "SYNCGATE_MONITOR_SCHEDULE" in errors and "not a cron expression" in errors


def test_monitor_dag_file_parses_without_heavy_imports() -> None:
    result = fresh_parse(DAGS / "syncgate_monitor.py")
    assert result["heavy"] == [], f"heavy modules imported at parse time: {result['heavy']}"
    assert float(result["seconds"]) < 1.0, f"monitor DAG file parse took {result['seconds']:.2f}s"
