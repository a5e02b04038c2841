"""The unit tests mirror the engine tree: every engine module has its own unit test module.

``include/syncgate/<sub>/<name>.py`` is tested by ``tests/unit/<sub>/test_<name>.py``, or by
``tests/unit/<sub>/test_<package>_<name>.py`` where two packages hold a module of the same
name (pytest imports test files by basename, so basenames must be unique across ``tests/``).
A module with no unit test module must be listed in ``COVERED_ELSEWHERE`` with the reason and
the test modules that do cover it; a unit test module must mirror an engine module unless it
is listed in ``CROSS_CUTTING``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "include" / "syncgate"
UNIT = REPO / "tests" / "unit"
TESTS = REPO / "tests"

_INTEGRATION = "needs a real PostgreSQL"
# Engine modules without a unit test module of their own. Each entry says why, and names
# (as tests/...py paths) the test modules that cover the module instead; those must exist.
COVERED_ELSEWHERE: dict[str, str] = {
    # Pure declarations: classes and protocols whose behaviour is their users' behaviour.
    "connectors/base.py": "declarations (the Source / Target protocols, ReadRequest, SourceRead, Connector); "
    "tests/unit/connectors/test_connector_boundary.py, tests/unit/connectors/test_registry.py",
    # A maintenance script: its one function is what the expectation-type test compares against.
    "spec/refresh_expectation_types.py": "the `make expectation-types` script; "
    "tests/unit/spec/test_expectation_types.py calls installed_expectation_types()",
    # Logic that talks to PostgreSQL (catalog, COPY, transactions) or runs inside Airflow.
    "loader.py": "the one-file loader DAG of an installed wheel, parsed by Airflow's DagBag: "
    "tests/dags/test_loader_dag.py, tests/integration/test_wheel_install.py",
    "dag_factory.py": "builds and runs DAGs (Airflow): tests/dags/test_dagbag.py, "
    "tests/integration/test_dag_end_to_end.py, tests/integration/test_failures_and_retries.py",
    "db/catalog.py": f"catalog queries, {_INTEGRATION}: tests/integration/test_merge_paths.py, "
    "tests/integration/test_extract_drivers.py",
    "db/column_types.py": f"catalog checks of column types, {_INTEGRATION}: "
    "tests/integration/test_column_types.py",
    "state/audit.py": f"the sync_runs audit rows, {_INTEGRATION}: tests/integration/test_dag_end_to_end.py, "
    "tests/integration/test_failures_and_retries.py",
    "state/schema.py": f"DDL of the state schema, {_INTEGRATION}: tests/integration/test_state_migrations.py, "
    "tests/integration/test_ui_queries.py, tests/integration/test_alerts.py",
    "state/target_owners.py": f"target ownership claimed at promote, {_INTEGRATION}: "
    "tests/integration/test_target_ownership.py",
    "cli/targets.py": f"`targets list|release` on a state database, {_INTEGRATION}: "
    "tests/integration/test_target_ownership.py",
    "connectors/postgres/reserved.py": f"a query's plan read for syncgate's schemas, {_INTEGRATION}: "
    "tests/integration/test_query_reads_syncgate_state.py",
    "events/store.py": f"the flow event log, {_INTEGRATION}: tests/integration/events/test_event_store.py",
    "events/triggers.py": f"LISTEN/NOTIFY, the event log and slots, {_INTEGRATION}: "
    "tests/integration/events/test_event_triggers.py",
    "events/asset.py": "the flow's event asset and DAG schedule (Airflow): tests/dags/test_event_schedule.py, "
    "tests/integration/events/test_triggered_flow_dag_test.py",
    "state/source_schemas.py": f"stored source schemas, {_INTEGRATION}: tests/integration/test_http_source.py",
    "staging/copy_in.py": f"COPY into staging, {_INTEGRATION}: tests/integration/test_load_binary.py, "
    "tests/integration/test_load_binary_edges.py",
    "pipeline/extract.py": f"the extract stage, {_INTEGRATION}: tests/integration/test_extract_drivers.py, "
    "tests/integration/test_incremental_sync.py",
    "pipeline/load.py": f"the load stage, {_INTEGRATION}: tests/integration/test_load_binary.py, "
    "tests/integration/test_edge_cases.py",
    "pipeline/leftovers.py": f"dead runs' and finished runs' leftovers, {_INTEGRATION}: "
    "tests/integration/test_dead_runs.py",
    "pipeline/verify.py": f"the verify stage (GX on a staged table), {_INTEGRATION}: "
    "tests/integration/test_dag_end_to_end.py, tests/integration/test_run_report.py",
    "pipeline/promote.py": f"the promote stage, {_INTEGRATION}: tests/integration/test_merge_paths.py, "
    "tests/integration/test_freshness_promote.py",
    "quality/verdicts.py": "the gate's verdicts and their enforcement, on real staged tables: "
    "tests/integration/test_quality_verdicts.py, tests/integration/test_gate_enforced.py",
    "quality/digest.py": "catalog and xmin facts of real staged tables: tests/integration/test_quality_verdicts.py",
    "reconcile/store.py": f"the sync state tables, {_INTEGRATION}: tests/integration/reconcile/test_two_way_postgres.py, "
    "tests/integration/reconcile/test_multi_way_postgres.py",
    "reconcile/decide.py": f"the reconcile stage, {_INTEGRATION}: tests/integration/reconcile/test_two_way_postgres.py, "
    "tests/integration/reconcile/test_multi_way_postgres.py",
    "reconcile/side_read.py": f"a side's extract and transform, {_INTEGRATION}: "
    "tests/integration/reconcile/test_two_way_postgres.py, tests/integration/reconcile/test_multi_way_postgres.py",
    "reconcile/leftovers.py": f"a sync flow's dead runs and their leftovers, {_INTEGRATION}: "
    "tests/integration/faults/test_kill_sync_stages.py",
    "reconcile/side_apply.py": f"a side's load, verify and promote, {_INTEGRATION}: "
    "tests/integration/reconcile/test_two_way_postgres.py, tests/integration/reconcile/test_multi_way_postgres.py",
    "connectors/postgres/side_writer.py": f"single-record writes to a side table, {_INTEGRATION}: "
    "tests/integration/reconcile/test_two_way_postgres.py, tests/integration/reconcile/test_multi_way_postgres.py",
    "connectors/postgres/append.py": f"append's versions in a real target, {_INTEGRATION}: "
    "tests/integration/test_append_versions.py, tests/integration/test_incremental_sync.py",
    "batch/fence.py": "batch numbers and read/write locks on a real state database: "
    "tests/integration/test_batch_fence.py, tests/integration/reconcile/test_sync_fence.py",
    "batch/settle.py": "the frame every target applies in, on a real state database: "
    "tests/integration/test_gate_enforced.py, tests/integration/connectors/test_connector_contract.py",
    "quality/checkpoint.py": "the GX checkpoint over a staged PostgreSQL table: "
    "tests/integration/test_dag_end_to_end.py, tests/integration/test_run_report.py",
    "report/write.py": f"run reports read from the audit trail, {_INTEGRATION}: "
    "tests/integration/test_run_report.py, tests/integration/test_run_report_dag.py",
    "connectors/postgres/source.py": f"reads a source table, {_INTEGRATION}: "
    "tests/integration/test_extract_drivers.py, tests/integration/test_incremental_sync.py",
    "connectors/postgres/copy_out.py": f"COPY out of the source, {_INTEGRATION}: "
    "tests/integration/test_extract_drivers.py, tests/integration/test_source_encodings.py",
    "connectors/postgres/adbc_out.py": f"ADBC out of the source, {_INTEGRATION}: "
    "tests/integration/test_extract_drivers.py, tests/integration/test_extract_hashing_drivers.py",
    "connectors/postgres/first_load.py": f"adopting staging on a first load, {_INTEGRATION}: "
    "tests/integration/test_extract_drivers.py, tests/integration/test_merge_paths.py",
    "connectors/postgres/cdc/slot.py": f"creates, drops and advances replication slots, {_INTEGRATION}: "
    "tests/integration/test_wal_capture.py, tests/integration/test_wal_retained_alert.py",
    "connectors/postgres/cdc/pending.py": f"peeks at a slot, {_INTEGRATION}: tests/integration/test_wal_capture.py, "
    "tests/integration/test_wal_pgoutput_roundtrip.py",
    "connectors/postgres/cdc/status.py": f"measures a slot, {_INTEGRATION}: tests/integration/test_wal_retained_alert.py, "
    "tests/integration/test_wal_pgoutput_roundtrip.py",
    "connectors/postgres/cdc/flow.py": f"sets up a flow's slot, {_INTEGRATION}: tests/integration/test_wal_capture.py",
    "connectors/postgres/target.py": f"merge / upsert / replace into the target, {_INTEGRATION}: "
    "tests/integration/test_merge_paths.py, tests/integration/test_edge_cases.py",
    "connectors/http/target.py": f"the API target, {_INTEGRATION} and an HTTP receiver: "
    "tests/integration/test_http_target.py, tests/integration/test_http_target_dag_end_to_end.py",
    "connectors/http/push/changes.py": f"plans changes in SQL, {_INTEGRATION}: "
    "tests/integration/test_http_target.py, tests/integration/test_http_target_edges.py",
    "connectors/http/push/mirror.py": f"the mirror of what the API accepted, {_INTEGRATION}: "
    "tests/integration/test_http_target.py, tests/integration/test_http_target_edges.py",
    "connectors/http/push/progress.py": f"push progress rows, {_INTEGRATION}: "
    "tests/integration/test_http_target_edges.py",
    "connectors/http/push/pusher.py": f"the push transaction, {_INTEGRATION}: "
    "tests/integration/test_http_target.py, tests/integration/test_http_target_edges.py",
    "connectors/http/side_writer.py": "an API as a side of a sync flow (an HTTP API, the ledger's "
    f"source schema), {_INTEGRATION}: tests/integration/reconcile/test_two_way_http.py, "
    "tests/integration/reconcile/test_two_way_demo.py",
    "observe/incidents.py": f"incident rows, {_INTEGRATION}: tests/integration/test_alerts.py, "
    "tests/integration/test_observe_edge_cases.py",
    "observe/notifiers.py": "delivers to webhook / SMTP connections (Airflow connections, loopback "
    "receivers): tests/integration/test_alerts.py, tests/integration/test_monitor_dag_run.py",
    "observe/monitor_dag.py": "the monitor DAG (Airflow): tests/dags/test_monitor_dag.py, "
    "tests/integration/test_monitor_dag_run.py",
    "ui/webhook_route.py": "the webhook receiver inside a real Airflow API server: "
    "tests/integration/test_webhook_receiver.py",
    "ui/app.py": f"the FastAPI app over the state database, {_INTEGRATION}: tests/integration/test_ui_app.py",
    "ui/auth.py": "Airflow's auth manager decides who reads what: tests/integration/test_ui_airflow.py, "
    "tests/integration/test_ui_app.py",
    "ui/queries.py": f"the UI's SQL, {_INTEGRATION}: tests/integration/test_ui_queries.py, "
    "tests/integration/test_ui_sync_flow.py",
    "__main__.py": "the `python -m syncgate` entry point, run as a child process: "
    "tests/integration/reconcile/test_conflicts_cli.py",
}

# Unit test modules that mirror no single engine module, and why. Some arrive from branches
# under way (import graph, docs). tests/unit/test_errors.py needs no entry: it mirrors errors.py
# (then remove errors.py from COVERED_ELSEWHERE, as the stale-entry test will say).
CROSS_CUTTING: dict[str, str] = {
    "test_test_tree.py": "this policy",
    "test_import_graph.py": "no import cycles between engine modules or packages",
    "test_connector_boundary.py": "no connector-type branch outside connectors/",
    "test_docs_links.py": "links in the docs resolve",
    "test_docs_examples.py": "examples in the docs validate",
    "test_review_merge_findings.py": "review findings on reconcile/merge, spec/sync_model and reconcile/records",
    "test_packaging.py": "the wheel's metadata (pyproject.toml) against requirements.txt",
}
# Unit tests of the demo CRM (include/demo/crm): tests/unit/crm/test_crm_<module>.py.
DEMO_CRM = REPO / "include" / "demo" / "crm"

PATH_IN_REASON = re.compile(r"tests/[\w/]+\.py")


def engine_modules() -> list[str]:
    return sorted(str(p.relative_to(ENGINE)) for p in ENGINE.rglob("*.py") if p.name != "__init__.py")


def mirrors(module: str) -> list[Path]:
    """The unit test modules that may mirror ``module`` (``a/b/c.py``)."""
    path = Path(module)
    folder = UNIT / path.parent
    names = [f"test_{path.name}"]
    if path.parent.name:
        names.append(f"test_{path.parent.name}_{path.name}")
    return [folder / n for n in names]


def unit_test_modules() -> list[Path]:
    return sorted(UNIT.rglob("test_*.py"))


def test_every_engine_module_has_a_unit_test_module_or_says_what_covers_it() -> None:
    missing = [
        m for m in engine_modules() if m not in COVERED_ELSEWHERE and not any(p.is_file() for p in mirrors(m))
    ]
    assert not missing, (
        "engine modules with neither tests/unit/<same path>/test_<name>.py nor a COVERED_ELSEWHERE "
        f"entry in {Path(__file__).name}: {missing}"
    )


def test_a_module_with_a_unit_test_module_is_not_listed_as_covered_elsewhere() -> None:
    stale = [m for m in COVERED_ELSEWHERE if any(p.is_file() for p in mirrors(m))]
    assert not stale, (
        f"COVERED_ELSEWHERE entries whose module now has a unit test module (remove them): {stale}"
    )


def test_every_covered_elsewhere_entry_names_an_engine_module_and_existing_tests() -> None:
    modules = set(engine_modules())
    problems = [f"{m}: no such engine module" for m in COVERED_ELSEWHERE if m not in modules]
    for module, reason in COVERED_ELSEWHERE.items():
        named = PATH_IN_REASON.findall(reason)
        if not named:
            problems.append(f"{module}: the reason names no covering test module (tests/...py)")
        problems += [f"{module}: {t} does not exist" for t in named if not (REPO / t).is_file()]
    assert not problems, problems


def test_every_unit_test_module_mirrors_an_engine_module() -> None:
    mirrored = {p for m in engine_modules() for p in mirrors(m)}
    orphans = []
    for test in unit_test_modules():
        if test in mirrored or test.name in CROSS_CUTTING:
            continue
        relative = test.relative_to(UNIT)
        if relative.parts[0] == "crm" and (DEMO_CRM / f"{test.name.removeprefix('test_crm_')}").is_file():
            continue
        orphans.append(str(relative))
    assert not orphans, (
        "unit test modules that mirror no engine module (rename them after the module they test, "
        f"or list them in CROSS_CUTTING): {orphans}"
    )


def test_test_module_basenames_are_unique() -> None:
    # Without __init__.py files pytest imports test modules by basename: a repeat breaks collection.
    counts = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [name for name, n in counts.items() if n > 1] == []


def test_tests_never_fork_the_test_process() -> None:
    # By the time a test runs, pytest's process has threads (GX's tqdm monitor, dag.test's
    # in-process API loop, servers of earlier tests). A child forked while one of them holds a
    # lock waits forever: a CI run hung until its time limit that way. Children are spawned
    # (multiprocessing.get_context("spawn")) or are subprocesses.
    forking = []
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__).resolve():  # the guard's own examples
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(pattern.search(code) for pattern in _FORKING):
                forking.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert forking == []


# What starts a forked child on Linux: the fork context named, os.fork, the default context's
# Pool/Process (imported or qualified), a process pool without a spawn context, a bare context.
_FORKING = [
    re.compile(r"""get_context\(\s*["']fork["']\s*\)|get_context\(\s*\)|\bos\.fork\("""),
    re.compile(r"\bmultiprocessing\.(Pool|Process)\("),
    re.compile(r"\bfrom\s+multiprocessing\s+import\b.*\b(Pool|Process)\b"),
    re.compile(r"\bProcessPoolExecutor\((?![^)]*mp_context)"),
]


def test_the_fork_guard_catches_each_way_of_forking() -> None:
    caught = [
        'multiprocessing.get_context("fork")', "get_context()", "os.fork()", "multiprocessing.Pool(2)",
        "from multiprocessing import Process", "ProcessPoolExecutor(max_workers=2)",
    ]  # fmt: skip
    allowed = [
        'multiprocessing.get_context("spawn")',
        "context.Pool(4)",
        "ProcessPoolExecutor(mp_context=ctx)",
    ]
    assert [c for c in caught if not any(p.search(c) for p in _FORKING)] == []
    assert [a for a in allowed if any(p.search(a) for p in _FORKING)] == []
