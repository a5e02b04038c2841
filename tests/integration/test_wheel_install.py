"""syncgate installed as a wheel into a fresh venv, as an existing Airflow deployment adds it.

Built from this checkout with the pinned backend, installed with no copy of the repository on
the path (``wheel_venv.py``); then, from that venv: Airflow finds the plugins and the provider,
a flow runs from the one-file loader DAG (``airflow dags test``, real PostgreSQL), and the
plugin's views answer in a real ``airflow api-server``.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import airflow_api
import httpx
import pytest
from airflow_api import PASSWORD
from helpers import rows, seed_orders
from wheel_venv import REPO, InstalledWheel, build_wheel, clean_env, install

pytestmark = pytest.mark.integration

FLOW_ID = "wheel_orders"
SPEC = f"""
id: {FLOW_ID}
description: A flow run by the installed wheel.
retries: 0
source:
  type: postgres
  conn_id: src_db
  table: public.orders
  primary_key: [id]
  cursor: updated_at
target:
  type: postgres
  conn_id: dst_db
  table: analytics.orders
  write: merge
transform:
  map_values: {{status: {{P: pending, S: shipped, X: cancelled}}}}
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {{column: status, value_set: [pending, shipped, cancelled]}}
"""
# docs/installing.md shows this file; a user's DAG folder holds nothing else of syncgate's.
LOADER_DAG = """\"\"\"Airflow DAGs: one per syncgate flow spec, plus the freshness monitor.\"\"\"

from syncgate.loader import load_all

globals().update(load_all({flows!r}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledWheel]:
    root = tmp_path_factory.mktemp("wheel")
    yield install(build_wheel(root / "dist"), root / "venv")


@pytest.fixture
def airflow_env(installed: InstalledWheel, airflow_db: Path, tmp_path: Path) -> dict[str, str]:
    """An Airflow deployment's environment: its own DAG and (empty) plugins folders, no PYTHONPATH."""
    for folder in ("dags", "plugins"):
        (tmp_path / folder).mkdir()
    env = clean_env(
        AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(tmp_path / "plugins"),
    )
    env.pop("SYNCGATE_FLOWS_DIR", None)
    return env


def test_the_wheel_ships_every_file_of_the_engine_and_nothing_else(installed: InstalledWheel) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "include/syncgate"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {path.removeprefix("include/") for path in tracked if (REPO / path).exists()}
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = {name for name in wheel.namelist() if not name.startswith("syncgate-")}
        entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        declared = wheel.read(entry_points).decode()
    assert expected - shipped == set()  # templates, static files, expectation types...
    assert {p for p in shipped if not p.startswith("syncgate/")} == set()  # no dags/, plugins/, demo/
    assert any(p.endswith(".html.j2") for p in shipped) and any(
        p.startswith("syncgate/ui/templates/") for p in shipped
    )
    assert "[airflow.plugins]" in declared and "[apache_airflow_provider]" in declared


def test_syncgate_comes_from_the_wheel_and_airflow_finds_its_plugins_and_provider(
    installed: InstalledWheel, airflow_env: dict[str, str]
) -> None:
    # Eagerly discovered providers load their plugins too: each must still load once, cleanly.
    eager = {k: v for k, v in airflow_env.items() if not k.startswith("SYNCGATE_")}
    eager["AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS"] = "False"
    probe = (
        "import importlib.util, json, sys, syncgate, syncgate.ui.pages; from airflow import plugins_manager as pm; "
        "from syncgate import settings as s; "
        "plugins, errors = pm._get_plugins(); print(json.dumps({'engine': syncgate.__file__, "
        "'defaults': [str(s.flows_dir()), s.landing_url(), str(s.reports_dir())], "
        "'version': syncgate.__version__, 'templates': syncgate.ui.pages.TEMPLATES.is_dir(), 'path': sys.path, "
        "'demo': importlib.util.find_spec('demo') is not None, 'plugins': [p.name for p in plugins], 'errors': errors}))"
    )
    found = json.loads(installed.run(probe, env=eager).splitlines()[-1])
    assert Path(found["engine"]).is_relative_to(installed.site_packages) and found["templates"]
    checkout = {REPO, REPO / "include", REPO / "dags", REPO / "plugins"}
    assert [entry for entry in found["path"] if entry and Path(entry).resolve() in checkout] == []
    assert not found["demo"]  # include/demo is the checkout's, not the wheel's
    # Unset, the settings follow Airflow's layout; nothing lands next to the installed package.
    home = Path(airflow_env["AIRFLOW_HOME"])
    assert found["defaults"] == [
        str(Path(airflow_env["AIRFLOW__CORE__DAGS_FOLDER"]) / "flows"),
        (home / "syncgate" / "landing").as_uri(),
        str(home / "syncgate" / "reports"),
    ]
    assert found["plugins"].count("syncgate_ui") == found["plugins"].count("syncgate_links") == 1
    assert found["errors"] == {}

    plugins = _json(installed.command(["-m", "airflow", "plugins", "-o", "json"], env=airflow_env).stdout)
    by_name = {p["name"]: p for p in plugins}
    assert {"syncgate_ui", "syncgate_links"} <= set(by_name)
    assert "EntryPoint(name='syncgate_ui'" in by_name["syncgate_ui"]["source"]
    assert by_name["syncgate_ui"]["fastapi_apps"][0]["url_prefix"] == "/syncgate"
    assert {v["url_route"] for v in by_name["syncgate_ui"]["external_views"]} == {
        "syncgate-health",
        "syncgate-flow",
        "syncgate-report",
    }

    providers = _json(
        installed.command(["-m", "airflow", "providers", "list", "-o", "json"], env=airflow_env).stdout
    )
    (ours,) = [p for p in providers if p["package_name"] == "syncgate"]
    assert ours["version"] == found["version"]


def test_a_flow_runs_from_the_loader_dag_and_the_views_answer(
    installed: InstalledWheel, airflow_env: dict[str, str], databases: dict[str, str], tmp_path: Path
) -> None:
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 40)
    flows = tmp_path / "my-flows"
    flows.mkdir()
    (flows / f"{FLOW_ID}.yml").write_text(SPEC)
    (tmp_path / "dags" / "syncgate_dags.py").write_text(LOADER_DAG.format(flows=str(flows)))
    env = {
        **airflow_env,
        **{k: v for k, v in clean_env().items() if k.startswith(("AIRFLOW_CONN_", "SYNCGATE_"))},
    }
    env.pop("SYNCGATE_FLOWS_DIR", None)  # the loader's argument names the folder

    # Fails unless Airflow parsed the loader file (its safe mode skips a file not saying both airflow and dag).
    installed.command(["-m", "airflow", "dags", "test", FLOW_ID], env=env, cwd=tmp_path)
    assert rows(dst, "SELECT count(*) FROM analytics.orders") == [(40,)]
    ((status, run_id),) = rows(
        dst, "SELECT status, run_id FROM syncgate.sync_runs WHERE flow_id = %s", (FLOW_ID,)
    )
    assert status == "success"

    # The UI (API server) does not parse DAG files: it reads the flows folder from the variable.
    server_env = {**env, "SYNCGATE_FLOWS_DIR": str(flows)}
    with airflow_api.api_server(tmp_path, python=installed.python, env=server_env) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.get("/syncgate/").status_code == 401
            token = client.post("/auth/token", json={"username": "admin", "password": PASSWORD}).json()
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            health = client.get("/syncgate/api/health.json", headers=bearer)
            assert health.status_code == 200, health.text
            (flow,) = [f for f in health.json()["flows"] if f["flow_id"] == FLOW_ID]
            assert flow["status"] == "success"
            page = client.get(f"/syncgate/flows/{FLOW_ID}", headers=bearer)
            assert page.status_code == 200 and FLOW_ID in page.text and "<html" in page.text.lower()
            report = client.get(f"/syncgate/flows/{FLOW_ID}/runs/{run_id}/report", headers=bearer)
            assert report.status_code == 200 and FLOW_ID in report.text
            plugins = client.get("/api/v2/plugins", headers=bearer).json()["plugins"]
            assert {"syncgate_ui", "syncgate_links"} <= {p["name"] for p in plugins}


def _json(output: str) -> list[dict[str, str]]:
    """The JSON document of a CLI command: its last line (Airflow may log lines before it)."""
    return list(json.loads(output.strip().splitlines()[-1]))
