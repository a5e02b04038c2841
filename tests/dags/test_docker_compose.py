from __future__ import annotations

# Static checks of docker-compose.yml and the Dockerfile it builds. Docker is
# not available where these tests run, so the file is checked by parsing it:
# services, environment, mounts, volumes, ports, healthchecks and the Airflow
# version pin in the Dockerfile.
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.dags

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
REQUIREMENTS_FILE = ROOT / "requirements.txt"

AIRFLOW_HOME = "/opt/airflow"
LANDING_VOLUME = "syncgate-landing"
LANDING_TARGET = f"{AIRFLOW_HOME}/landing"
INCLUDE_TARGET = f"{AIRFLOW_HOME}/include"

# service name -> command it must run
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
REQUIRED_SERVICES = [
    *AIRFLOW_COMPONENTS,
    "airflow-init",
    "redis",
    "postgres",
    "erp-db",
    "warehouse-db",
]
# conn env var -> (demo db service, database name)
DEMO_CONNECTIONS = {
    "AIRFLOW_CONN_ERP_DB": ("erp-db", "erp"),
    "AIRFLOW_CONN_WAREHOUSE_DB": ("warehouse-db", "warehouse"),
}
# Built from the same image but not Airflow: the demo CRM runs `python -m demo.crm`.
NON_AIRFLOW_SERVICES = {"crm-api"}
AIRFLOW3_HEALTH_ENDPOINTS = ("/api/v2/version", "/api/v2/monitor/health")

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# --------------------------------------------------------------------------- helpers


def interpolate(value: Any) -> str:
    """Resolve compose ``${VAR:-default}`` to its default (``""`` if none), ``$$`` to ``$``.

    Only defaults are used, never the caller's environment, so results are
    deterministic.
    """

    def repl(match: re.Match[str]) -> str:
        op, default = match.group(2), match.group(3)
        return default if op in (":-", "-") and default is not None else ""

    text = _VAR_RE.sub(repl, str(value))
    return text.replace("$$", "$")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a dict of raw (uninterpolated) strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str] = {}
        for item in env:
            key, _, val = str(item).partition("=")
            out[key] = val
        return out
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    if isinstance(cmd, list):
        return " ".join(str(c) for c in cmd)
    return str(cmd)


def mounts_of(service: dict[str, Any]) -> list[dict[str, str]]:
    """Volumes of a service as dicts with type ('volume'|'bind'), source, target."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            source = interpolate(entry.get("source", ""))
            target = interpolate(entry.get("target", ""))
            kind = entry.get("type", "volume")
        else:
            parts = interpolate(entry).split(":")
            if len(parts) == 1:  # anonymous volume
                source, target = "", parts[0]
            else:
                source, target = parts[0], parts[1]
            is_path = source.startswith((".", "/", "~"))
            kind = "bind" if is_path else "volume"
        mounts.append({"type": kind, "source": source, "target": target.rstrip("/")})
    return mounts


def depends_on_of(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): {} for name in deps}
    return {str(name): (cond or {}) for name, cond in deps.items()}


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test", "")
    if isinstance(test, list):
        return " ".join(str(t) for t in test)
    return str(test)


def airflow_service_names(compose: dict[str, Any]) -> list[str]:
    """Services that run the Airflow image: the ``airflow-*`` ones plus any
    other service built/tagged like the x-airflow-common anchor (e.g. flower)."""
    common = compose.get("x-airflow-common") or {}
    names = []
    for name, svc in (compose.get("services") or {}).items():
        same_build = "build" in common and svc.get("build") == common.get("build")
        same_image = "image" in common and svc.get("image") == common.get("image")
        if name in NON_AIRFLOW_SERVICES:
            continue
        if name.startswith("airflow-") or same_build or same_image:
            names.append(name)
    return names


def build_dockerfile(build: Any) -> Path:
    if isinstance(build, dict):
        context = ROOT / interpolate(build.get("context", "."))
        return context / interpolate(build.get("dockerfile", "Dockerfile"))
    return ROOT / interpolate(build) / "Dockerfile"


def airflow_pin() -> str:
    pins = [
        m.group(1)
        for line in REQUIREMENTS_FILE.read_text().splitlines()
        if (m := re.match(r"^\s*apache-airflow\s*==\s*([^\s;#]+)", line, re.IGNORECASE))
    ]
    assert len(pins) == 1, f"requirements.txt must pin apache-airflow==X exactly once, found {pins}"
    return pins[0]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    try:
        data = yaml.safe_load(COMPOSE_FILE.read_text())
    except yaml.YAMLError as exc:
        pytest.fail(f"docker-compose.yml is not valid YAML: {exc}")
    assert isinstance(data, dict), "docker-compose.yml must be a YAML mapping"
    assert isinstance(data.get("services"), dict) and data["services"], (
        "docker-compose.yml has no 'services' mapping"
    )
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    names = airflow_service_names(compose)
    assert names, "no Airflow services found (expected airflow-* services)"
    return {name: services[name] for name in names}


# --------------------------------------------------------------------------- services


def test_compose_file_parses() -> None:
    try:
        data = yaml.safe_load(COMPOSE_FILE.read_text())
    except yaml.YAMLError as exc:
        pytest.fail(f"docker-compose.yml is not valid YAML: {exc}")
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "docker-compose.yml must be a mapping with a 'services' mapping"
    )
    assert isinstance(data.get("x-airflow-common"), dict), (
        "docker-compose.yml must define the x-airflow-common anchor shared by Airflow services"
    )


def test_required_services_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"docker-compose.yml lacks services {missing}; has {sorted(services)}"


@pytest.mark.parametrize(("name", "expected"), sorted(AIRFLOW_COMPONENTS.items()))
def test_airflow_component_commands(services: dict[str, dict[str, Any]], name: str, expected: str) -> None:
    assert name in services, f"service {name!r} is missing"
    actual = command_of(services[name])
    assert actual.split() == expected.split(), (
        f"service {name!r} must run command {expected!r}, runs {actual!r}"
    )


def test_airflow_init_migrates_and_creates_user(
    services: dict[str, dict[str, Any]],
) -> None:
    env = env_of(services.get("airflow-init", {}))
    assert env.get("_AIRFLOW_DB_MIGRATE") == "true", "airflow-init must set _AIRFLOW_DB_MIGRATE: 'true'"
    assert env.get("_AIRFLOW_WWW_USER_CREATE") == "true", (
        "airflow-init must set _AIRFLOW_WWW_USER_CREATE: 'true' (default login)"
    )


def test_metadata_db_and_broker_point_at_services(
    airflow_services: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    for name, svc in airflow_services.items():
        env = env_of(svc)
        sql_conn = interpolate(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        db_host = urlsplit(sql_conn).hostname
        assert db_host in services, (
            f"{name}: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN host {db_host!r} is not a compose service"
        )
        assert str(services[db_host].get("image", "")).startswith("postgres"), (
            f"{name}: metadata DB service {db_host!r} is not a postgres image"
        )
        broker = interpolate(env.get("AIRFLOW__CELERY__BROKER_URL", ""))
        broker_host = urlsplit(broker).hostname
        assert broker_host in services, (
            f"{name}: AIRFLOW__CELERY__BROKER_URL host {broker_host!r} is not a compose service"
        )
        assert str(services[broker_host].get("image", "")).startswith("redis"), (
            f"{name}: Celery broker service {broker_host!r} is not a redis image"
        )


@pytest.mark.parametrize(("service", "database"), sorted(DEMO_CONNECTIONS.values()))
def test_demo_databases(services: dict[str, dict[str, Any]], service: str, database: str) -> None:
    svc = services.get(service)
    assert svc is not None, f"demo database service {service!r} is missing"
    image = str(svc.get("image", ""))
    assert image.startswith("postgres:16"), f"{service} must use image postgres:16, uses {image!r}"
    env = env_of(svc)
    assert interpolate(env.get("POSTGRES_DB", "")) == database, (
        f"{service} must create database {database!r} (POSTGRES_DB), got {env.get('POSTGRES_DB')!r}"
    )
    assert svc.get("healthcheck"), f"{service} has no healthcheck"
    data_mounts = [
        m for m in mounts_of(svc) if m["type"] == "volume" and m["target"].startswith("/var/lib/postgresql")
    ]
    assert data_mounts, f"{service} must keep its data in a named volume at /var/lib/postgresql/data"


def test_long_running_services_have_healthchecks(
    services: dict[str, dict[str, Any]],
) -> None:
    one_shot = {"airflow-init", "airflow-cli"}
    missing = [n for n, s in services.items() if n not in one_shot and not s.get("healthcheck")]
    assert not missing, f"services without a healthcheck: {missing}"


# --------------------------------------------------------------------------- Airflow env


def test_every_airflow_service_uses_celery_executor(
    airflow_services: dict[str, dict[str, Any]],
) -> None:
    wrong = {
        name: env_of(svc).get("AIRFLOW__CORE__EXECUTOR")
        for name, svc in airflow_services.items()
        if env_of(svc).get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor"
    }
    assert not wrong, f"AIRFLOW__CORE__EXECUTOR must be CeleryExecutor, got {wrong}"


def test_airflow3_core_settings(airflow_services: dict[str, dict[str, Any]]) -> None:
    secrets = set()
    for name, svc in airflow_services.items():
        env = env_of(svc)
        assert env.get("AIRFLOW__CORE__AUTH_MANAGER"), f"{name}: AIRFLOW__CORE__AUTH_MANAGER is not set"
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", (
            f"{name}: AIRFLOW__CORE__LOAD_EXAMPLES must be 'false', "
            f"got {env.get('AIRFLOW__CORE__LOAD_EXAMPLES')!r}"
        )
        url = urlsplit(interpolate(env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "")))
        assert (
            url.hostname == "airflow-apiserver" and url.port == 8080 and url.path.startswith("/execution")
        ), (
            f"{name}: AIRFLOW__CORE__EXECUTION_API_SERVER_URL must be "
            f"http://airflow-apiserver:8080/execution/, got {url.geturl()!r}"
        )
        secret = env.get("AIRFLOW__API_AUTH__JWT_SECRET")
        assert secret, f"{name}: AIRFLOW__API_AUTH__JWT_SECRET is not set"
        # HS512 tokens: a shorter key puts PyJWT's InsecureKeyLengthWarning in every component's log.
        assert len(interpolate(secret).encode()) >= 64, f"{name}: the default JWT secret is under 64 bytes"
        secrets.add(secret)
        assert not interpolate(env.get("_PIP_ADDITIONAL_REQUIREMENTS", "")), (
            f"{name}: use the Dockerfile, not _PIP_ADDITIONAL_REQUIREMENTS"
        )
    assert len(secrets) == 1, f"AIRFLOW__API_AUTH__JWT_SECRET differs between services: {secrets}"


def test_pythonpath_includes_engine(
    airflow_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in airflow_services.items():
        paths = interpolate(env_of(svc).get("PYTHONPATH", "")).split(":")
        assert INCLUDE_TARGET in paths, (
            f"{name}: PYTHONPATH must include {INCLUDE_TARGET} (got {paths}) so syncgate is importable"
        )


@pytest.mark.parametrize(("var", "db"), sorted(DEMO_CONNECTIONS.items()))
def test_connection_env_vars(
    airflow_services: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]],
    var: str,
    db: tuple[str, str],
) -> None:
    db_service, database = db
    db_env = env_of(services.get(db_service, {}))
    for name, svc in airflow_services.items():
        raw = env_of(svc).get(var)
        assert raw, f"{name}: {var} is not set"
        assert "${" in raw, f"{name}: {var} should take user/password from ${{...:-default}} substitutions"
        url = urlsplit(interpolate(raw))
        assert url.scheme in ("postgresql", "postgres"), f"{name}: {var} must be a postgresql:// URI"
        assert url.hostname == db_service and url.port == 5432, (
            f"{name}: {var} must point at {db_service}:5432, got {url.hostname}:{url.port}"
        )
        assert url.path.lstrip("/") == database, f"{name}: {var} must use database {database!r}"
        assert url.username == interpolate(db_env.get("POSTGRES_USER", "")), (
            f"{name}: {var} user {url.username!r} does not match {db_service} POSTGRES_USER"
        )
        assert url.password == interpolate(db_env.get("POSTGRES_PASSWORD", "")), (
            f"{name}: {var} password does not match {db_service} POSTGRES_PASSWORD"
        )


def test_syncgate_env_vars(airflow_services: dict[str, dict[str, Any]]) -> None:
    for name, svc in airflow_services.items():
        env = env_of(svc)
        assert env.get("SYNCGATE_FLOWS_DIR") == f"{AIRFLOW_HOME}/dags/flows", (
            f"{name}: SYNCGATE_FLOWS_DIR must be {AIRFLOW_HOME}/dags/flows, got {env.get('SYNCGATE_FLOWS_DIR')!r}"
        )
        landing = env.get("SYNCGATE_LANDING_URL", "")
        assert landing.startswith("${SYNCGATE_LANDING_URL:-"), (
            f"{name}: SYNCGATE_LANDING_URL must be overridable as ${{SYNCGATE_LANDING_URL:-...}}, got {landing!r}"
        )
        assert interpolate(landing) == f"file://{LANDING_TARGET}", (
            f"{name}: SYNCGATE_LANDING_URL must default to file://{LANDING_TARGET}, got {interpolate(landing)!r}"
        )
        reports = interpolate(env.get("SYNCGATE_REPORTS_DIR", ""))
        assert reports.startswith(LANDING_TARGET + "/"), (
            f"{name}: SYNCGATE_REPORTS_DIR must live on the landing volume ({LANDING_TARGET}/...), got {reports!r}"
        )


# --------------------------------------------------------------------------- mounts and volumes


@pytest.mark.parametrize("folder", ["dags", "plugins", "include"])
def test_airflow_services_mount_project_folders(
    airflow_services: dict[str, dict[str, Any]], folder: str
) -> None:
    target = f"{AIRFLOW_HOME}/{folder}"
    for name, svc in airflow_services.items():
        sources = [
            (ROOT / m["source"]).resolve()
            for m in mounts_of(svc)
            if m["type"] == "bind" and m["target"] == target
        ]
        assert sources == [ROOT / folder], (
            f"{name}: must bind-mount ./{folder} at {target}, found {sources or 'nothing'}"
        )


def test_airflow_services_share_landing_volume(
    airflow_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in airflow_services.items():
        landing = [m for m in mounts_of(svc) if m["target"] == LANDING_TARGET]
        assert landing and landing[0]["type"] == "volume" and landing[0]["source"] == LANDING_VOLUME, (
            f"{name}: must mount named volume {LANDING_VOLUME!r} at {LANDING_TARGET}, found {landing}"
        )


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    undeclared = {
        f"{name}:{m['source']}"
        for name, svc in services.items()
        for m in mounts_of(svc)
        if m["type"] == "volume" and m["source"] and m["source"] not in declared
    }
    assert not undeclared, (
        f"named volumes used but not declared under top-level 'volumes': {sorted(undeclared)}"
    )


def test_bind_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    # Directories like ./logs may be created at start-up; single files may not
    # (Docker would silently create a directory in their place).
    missing = [
        f"{name}: {m['source']}"
        for name, svc in services.items()
        for m in mounts_of(svc)
        if m["type"] == "bind" and Path(m["source"]).suffix and not (ROOT / m["source"]).is_file()
    ]
    assert not missing, f"bind-mounted files do not exist: {missing}"


def test_depends_on_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    broken = [
        f"{name} -> {dep}"
        for name, svc in services.items()
        for dep in depends_on_of(svc)
        if dep not in services
    ]
    assert not broken, f"depends_on points at services that do not exist: {broken}"


def test_service_healthy_dependencies_have_healthchecks(
    services: dict[str, dict[str, Any]],
) -> None:
    broken = [
        f"{name} -> {dep}"
        for name, svc in services.items()
        for dep, cond in depends_on_of(svc).items()
        if cond.get("condition") == "service_healthy" and not services.get(dep, {}).get("healthcheck")
    ]
    assert not broken, f"depends_on condition service_healthy on services without a healthcheck: {broken}"


# --------------------------------------------------------------------------- image / Dockerfile


def test_airflow_services_build_the_dockerfile(
    airflow_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in airflow_services.items():
        assert "build" in svc, f"{name}: has no 'build' (expected build: . using ./Dockerfile)"
        dockerfile = build_dockerfile(svc["build"])
        assert dockerfile.is_file(), f"{name}: build refers to {dockerfile}, which does not exist"
        image = str(svc.get("image", ""))
        assert not image.startswith("apache/airflow"), (
            f"{name}: image {image!r} would overwrite the official tag with the local build; "
            "use a project tag"
        )


def test_dockerfile_pins_required_airflow_version(
    airflow_services: dict[str, dict[str, Any]],
) -> None:
    pinned = airflow_pin()
    dockerfiles = {build_dockerfile(s["build"]) for s in airflow_services.values() if "build" in s}
    assert dockerfiles, "no Airflow service has a build section"
    for dockerfile in dockerfiles:
        text = dockerfile.read_text()
        froms = re.findall(r"^\s*FROM\s+(\S+)", text, re.IGNORECASE | re.MULTILINE)
        assert froms, f"{dockerfile.name} has no FROM line"
        match = re.fullmatch(r"apache/airflow:(\d+(?:\.\d+)*)(?:-python[\d.]+)?", froms[0])
        assert match, f"{dockerfile.name}: FROM {froms[0]!r} is not apache/airflow:<version>[-pythonX.Y]"
        assert match.group(1) == pinned, (
            f"{dockerfile.name} is FROM apache/airflow:{match.group(1)} "
            f"but requirements.txt pins apache-airflow=={pinned}"
        )
        assert "requirements.txt" in text, f"{dockerfile.name} does not install requirements.txt"


# --------------------------------------------------------------------------- ports and health


def test_ports_are_quoted_host_container_strings(
    services: dict[str, dict[str, Any]],
) -> None:
    pattern = re.compile(r"(?:[\d.]+:)?\d+(?:-\d+)?:\d+(?:-\d+)?(?:/(?:tcp|udp))?")
    bad = [
        f"{name}: {port!r}"
        for name, svc in services.items()
        for port in svc.get("ports") or []
        if not isinstance(port, str) or not pattern.fullmatch(interpolate(port))
    ]
    assert not bad, f'ports must be quoted "HOST:CONTAINER" strings, bad entries: {bad}'


def test_apiserver_publishes_8080_and_checks_airflow3_health(
    services: dict[str, dict[str, Any]],
) -> None:
    api = services.get("airflow-apiserver", {})
    ports = [interpolate(p) for p in api.get("ports") or []]
    assert any(str(p).split("/")[0].endswith(":8080") for p in ports), (
        f"airflow-apiserver must publish container port 8080, publishes {ports}"
    )
    check = healthcheck_text(api)
    assert any(ep in check for ep in AIRFLOW3_HEALTH_ENDPOINTS), (
        f"airflow-apiserver healthcheck must hit one of {AIRFLOW3_HEALTH_ENDPOINTS}, is {check!r}"
    )
    assert "localhost:8080" in check, f"airflow-apiserver healthcheck must target port 8080, is {check!r}"


def test_the_demo_crm_api_is_a_service_behind_the_crm_api_connection() -> None:
    import json

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    crm = compose["services"]["crm-api"]
    assert crm["entrypoint"] == ["python", "-m", "demo.crm"]
    port = crm["command"][crm["command"].index("--port") + 1]
    assert interpolate(crm["ports"][0]).endswith(f":{port}")
    assert interpolate(env_of(crm)["PYTHONPATH"]) == INCLUDE_TARGET
    conn = json.loads(interpolate(compose["x-airflow-common"]["environment"]["AIRFLOW_CONN_CRM_API"]))
    assert (conn["conn_type"], conn["host"], str(conn["port"])) == ("http", "crm-api", port)
    # The token is the same on both ends.
    assert conn["password"] == interpolate(env_of(crm)["SYNCGATE_CRM_TOKEN"])


def flow_ends(spec: Any) -> list[Any]:
    """A flow's source and target specs; every side's, for a two-way or multi-way flow."""
    from syncgate.spec.sync_model import SyncSpec

    if isinstance(spec, SyncSpec):
        return [end for side in spec.all_sides for end in (side.source, side.target)]
    return [spec.source, spec.target]


def test_airflow_init_creates_the_pool_of_every_api_a_shipped_flow_calls() -> None:
    from syncgate.spec.loader import load_specs

    init_script = "\n".join(yaml.safe_load(COMPOSE_FILE.read_text())["services"]["airflow-init"]["command"])
    pools = {
        end.pool_name
        for item in load_specs(ROOT / "dags" / "flows")
        if item.spec
        for end in flow_ends(item.spec)
        if getattr(end, "type", None) == "http"
    }
    assert pools, "no shipped flow calls an API"
    for pool in pools:
        assert f"airflow pools set {pool} " in init_script, pool


def test_airflow_init_migrates_the_state_schema_of_the_flows_state_databases() -> None:
    """Deploy time, not task time: tasks only check the version (issue 14's start-up deadlock)."""
    from syncgate.spec.loader import load_specs

    init = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert "python -m syncgate state migrate ||" in script and "exit 1" in script
    state_conns = {str(i.spec.state_conn_id) for i in load_specs(ROOT / "dags" / "flows") if i.spec}
    assert state_conns == {"warehouse_db"}, "a new state database needs its service in depends_on below"
    assert init["depends_on"]["warehouse-db"]["condition"] == "service_healthy"
