"""The README's Airflow CLI lines, run as written against a running demo, from "another shell".

The lines are read from README.md itself (every ``scripts/airflow.sh ...`` line of its bash
blocks, in order), so a README edit that does not work fails here. Each one runs with
``bash -c`` in a bare environment (no Airflow or syncgate variable: only PATH, a throwaway HOME
and the demo's state folder), must exit 0, and must do what the README says it does, checked in
the demo's metadata database.

One demo for the module: ``scripts/demo.sh`` as ``make demo`` runs it, with its own state folder,
free ports (so the PostgreSQL port is not the default: the CLI must get it from the demo, not
from the environment) and one flow, the README's ``erp_orders``, to stay affordable.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
CLI = "scripts/airflow.sh"
PSQL = "scripts/psql.sh"
STATE = REPO / ".syncgate" / "demo-cli-test"
PG_SCRIPT = REPO / "scripts" / "pg_cluster.sh"
READY_TIMEOUT = 900.0
LINE_TIMEOUT = 600.0
RUN_TIMEOUT = 600.0
# What a healthy run must not print (issue 14): a JWT key too short for HS512, Starlette's
# TestClient on plain httpx (imported by Airflow's execution API).
NOISE = ("InsecureKeyLengthWarning", "StarletteDeprecationWarning")
FLOW_TASKS = {"extract", "transform", "load", "verify", "promote"}


def readme_lines(text: str, command: str) -> list[str]:
    """The lines of the text's bash code blocks that run ``command``, as written, in order."""
    lines, in_bash = [], False
    for line in text.splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            in_bash = not in_bash and fence in ("```bash", "```sh", "```shell")
            continue
        if in_bash and fence.startswith(command + " "):
            lines.append(fence)
    return lines


def readme_cli_lines(text: str) -> list[str]:
    """The ``scripts/airflow.sh`` lines of the text's bash code blocks."""
    return readme_lines(text, CLI)


def cli_argv(line: str) -> list[str]:
    """The airflow arguments of one line (after the script name, without its comment)."""
    return shlex.split(line, comments=True)[1:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def second_shell_env(state: Path, home: Path) -> dict[str, str]:
    """A user's other terminal: nothing of the demo's configuration, only where the demo keeps state."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "SYNCGATE_DEMO_STATE_DIR": str(state),
    }


def run_line(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=LINE_TIMEOUT,
        check=False,
    )


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    log: Path
    pg_port: int
    env: dict[str, str]  # the second shell's
    home: Path

    def metadata(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            f"postgresql://syncgate@127.0.0.1:{self.pg_port}/airflow", autocommit=True
        ) as conn:
            return conn.execute(query, params).fetchall()

    def until(self, check: Any, what: str, timeout: float = RUN_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            assert self.process.poll() is None, f"the demo exited:\n{self.tail()}"
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _stop(process: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    # SIGTERM is Ctrl-C's path: demo.sh stops Airflow, the CRM and PostgreSQL itself.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), "stop"], env=env, capture_output=True, check=False
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    base = tmp_path_factory.mktemp("demo-cli")
    flows, home = base / "flows", base / "home"
    flows.mkdir()
    home.mkdir()
    # The README's flow, and the WAL flow its "Try it" section watches.
    for name in ("_defaults.yml", "erp_orders.yml", "erp_orders_live.yml"):
        shutil.copy(REPO / "dags" / "flows" / name, flows / name)
    # A fresh demo each time: a backfill of dates that already have runs would create none.
    subprocess.run(["bash", str(PG_SCRIPT), "destroy", str(STATE / "pg")], capture_output=True, check=False)
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    pg_port = _free_port()
    # The demo gets the environment of `make demo`, not the test session's Airflow settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SYNCGATE_", "PYTHONPATH"))}
    env.update(
        {
            "SYNCGATE_DEMO_STATE_DIR": str(STATE),
            "SYNCGATE_DEMO_PG_PORT": str(pg_port),
            "SYNCGATE_DEMO_UI_PORT": str(_free_port()),
            "SYNCGATE_DEMO_CRM_PORT": str(_free_port()),
            "SYNCGATE_FLOWS_DIR": str(flows),
            "SYNCGATE_DEMO_FLOW_TIMEOUT": str(int(READY_TIMEOUT)),
        }
    )
    log = base / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "demo.sh")],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Demo(process, log, pg_port, second_shell_env(STATE, home), home)
    try:
        running.until(lambda: "(ready after" in log.read_text(errors="replace"), "the demo", READY_TIMEOUT)
        yield running
    finally:
        _stop(process, env)
        subprocess.run(
            ["bash", str(PG_SCRIPT), "destroy", str(STATE / "pg")], capture_output=True, check=False
        )


# --- what each README line says it does -------------------------------------------------------


def _parse_date(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _check_list_import_errors(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    assert "No data found" in out, out
    assert demo.metadata("SELECT filename FROM import_error") == []


def _check_pause(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    paused = argv[1] == "pause"
    assert demo.metadata("SELECT is_paused FROM dag WHERE dag_id = %s", (argv[2],)) == [(paused,)]


def _check_dags_test(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    runs = demo.metadata(
        "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'manual' AND run_id LIKE 'manual\\_\\_%%'"
        " AND start_date >= %s",
        (argv[2], started),
    )
    assert [state for _, state in runs] == ["success"], runs
    tasks = demo.metadata(
        "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s", (argv[2], runs[0][0])
    )
    assert {t for t, _ in tasks} == FLOW_TASKS and {s for _, s in tasks} == {"success"}, tasks


def _expected_logical_dates(dag_id: str, start: datetime, end: datetime) -> list[datetime]:
    from croniter import croniter

    schedule = yaml.safe_load((REPO / "dags" / "flows" / f"{dag_id}.yml").read_text())["schedule"]
    ticks, it = [], croniter(schedule, start - timedelta(seconds=1))
    while (tick := it.get_next(datetime)) <= end:
        ticks.append(tick)
    return ticks


def _check_backfill(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    opts = dict(zip(argv[2::2], argv[3::2], strict=False))
    dag_id, start, end = opts["--dag-id"], _parse_date(opts["--from-date"]), _parse_date(opts["--to-date"])
    expected = _expected_logical_dates(dag_id, start, end)
    assert expected, "the README's backfill window holds no run"

    def finished() -> list[tuple[Any, ...]] | None:
        runs = demo.metadata(
            "SELECT logical_date, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill' ORDER BY logical_date",
            (dag_id,),
        )
        return (
            runs if len(runs) >= len(expected) and all(s in ("success", "failed") for _, s in runs) else None
        )

    runs = demo.until(finished, f"the backfill runs of {dag_id}")
    assert [d for d, _ in runs] == expected, runs
    assert {s for _, s in runs} == {"success"}, runs


def _check_list_runs(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    run_ids = [r for (r,) in demo.metadata("SELECT run_id FROM dag_run WHERE dag_id = %s", (argv[2],))]
    assert run_ids and all(r in out for r in run_ids if r.startswith("backfill__")), out
    assert any(r.startswith("backfill__") for r in run_ids), run_ids


def _check_states_for_dag_run(demo: Demo, argv: list[str], out: str, started: datetime) -> None:
    dag_id, run_id = argv[2], argv[3]
    assert demo.metadata("SELECT 1 FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id)), (
        f"the README names a run that does not exist: {run_id}"
    )
    shown = {
        cells[2]: cells[3]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.split("|")]) >= 4 and cells[0] == dag_id
    }
    assert shown == dict.fromkeys(FLOW_TASKS, "success"), out


CHECKS = {
    ("dags", "list-import-errors"): _check_list_import_errors,
    ("dags", "pause"): _check_pause,
    ("dags", "unpause"): _check_pause,
    ("dags", "test"): _check_dags_test,
    ("backfill", "create"): _check_backfill,
    ("dags", "list-runs"): _check_list_runs,
    ("tasks", "states-for-dag-run"): _check_states_for_dag_run,
}


def _no_active_runs(demo: Demo, dag_id: str) -> bool:
    return not demo.metadata(
        "SELECT 1 FROM dag_run WHERE dag_id = %s AND state IN ('queued', 'running')", (dag_id,)
    )


# --- tests ------------------------------------------------------------------------------------


def test_the_readme_shows_airflow_cli_lines_and_the_docs_show_no_others() -> None:
    lines = readme_cli_lines(README.read_text())
    shown = {tuple(cli_argv(line)[:2]) for line in lines}
    assert {("dags", "test"), ("backfill", "create"), ("dags", "list-import-errors"),
            ("tasks", "states-for-dag-run")} <= shown, lines  # fmt: skip
    # The docs' demo lines must be among the README's, which the test below runs.
    readme_argv = [cli_argv(line) for line in lines]
    for doc in DOCS.glob("*.md"):
        # Inline code only (`scripts/airflow.sh <airflow arguments>` is a placeholder, not a command).
        text = doc.read_text()
        for found in re.findall(r"`(scripts/airflow\.sh [^`\n<]+)`", text) + readme_cli_lines(text):
            assert cli_argv(found) in readme_argv, (
                f"{doc.name}: `{found}` is not one of README.md's CLI lines"
            )


def test_without_a_running_demo_the_cli_says_so_and_creates_no_airflow_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    line = readme_cli_lines(README.read_text())[0]
    done = run_line(line, second_shell_env(tmp_path / "no-demo", home))
    assert done.returncode != 0
    assert "the demo is not running" in done.stderr and "make demo" in done.stderr, done.stderr
    assert list(home.iterdir()) == [], "nothing may fall back to a new ~/airflow"


def test_the_readme_cli_lines_work_as_written_against_the_running_demo(demo: Demo) -> None:
    lines = readme_cli_lines(README.read_text())
    for line in lines:
        argv = cli_argv(line)
        check = CHECKS.get(tuple(argv[:2]))  # type: ignore[call-overload]
        assert check is not None, f"README line without a check in this test (add one): {line}"
        if argv[:2] == ["dags", "pause"]:
            # The scheduler's own run of the flow would race a `dags test` run (a run that was
            # already going when the flow was paused stays half done): start from a quiet flow.
            demo.until(lambda dag_id=argv[2]: _no_active_runs(demo, dag_id), f"no active run of {argv[2]}")
        started = demo.metadata("SELECT now()")[0][0]
        done = run_line(line, demo.env)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"{line}\nexited {done.returncode}:\n{out[-4000:]}"
        for noise in NOISE:
            assert noise not in out, f"{line}: {noise} in its output"
        check(demo, argv, done.stdout, started)
    assert list(demo.home.iterdir()) == [], "the CLI created files in HOME (a stray ~/airflow?)"


def readme_psql_lines(text: str) -> list[str]:
    """The ``scripts/psql.sh`` lines of the text's bash code blocks."""
    return readme_lines(text, PSQL)


def _last_run(demo: Demo, dag_id: str, after: datetime) -> tuple[Any, ...] | None:
    found = demo.metadata(
        "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'manual' AND start_date >= %s "
        "AND state IN ('success', 'failed') ORDER BY start_date DESC LIMIT 1",
        (dag_id, after),
    )
    return found[0] if found else None


def _trigger_and_wait(demo: Demo, dag_id: str) -> tuple[str, str]:
    """What the README asks the user to do in the UI: trigger the flow, then read its outcome."""
    started = demo.metadata("SELECT now()")[0][0]
    done = run_line(f"{CLI} dags trigger {dag_id}", demo.env)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id, state = demo.until(lambda: _last_run(demo, dag_id, started), f"a triggered run of {dag_id}")
    task = demo.metadata(
        "SELECT task_id FROM task_instance WHERE dag_id = %s AND run_id = %s AND state = 'failed'",
        (dag_id, run_id),
    )
    return state, ",".join(sorted(t[0] for t in task))


def test_the_readme_try_it_lines_work_as_written_against_the_running_demo(demo: Demo) -> None:
    """The "Try it" walk: ERP activity reaches the WAL flow's table by itself; an order status the
    suite does not allow makes the next erp_orders run fail in verify (rejected); putting it back
    makes the next one succeed. Each README line runs as written from the second shell."""
    lines = readme_psql_lines(README.read_text())
    assert len(lines) == 4, lines  # activity, the WAL flow's table, the bad status, the fix
    activity, watch, bad, fix = lines
    for line in (activity, watch):
        done = run_line(line, demo.env)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    # By itself (WAL capture): the activity's 200 new orders arrive without a trigger.
    erp = f"postgresql://syncgate@127.0.0.1:{demo.pg_port}"

    def live_matches() -> bool:
        import psycopg

        with psycopg.connect(f"{erp}/erp") as src, psycopg.connect(f"{erp}/warehouse") as dst:
            want = src.execute("SELECT count(*) FROM public.orders").fetchone()
            got = dst.execute("SELECT count(*) FROM analytics.orders_live").fetchone()
        return want == got

    demo.until(live_matches, "the WAL flow to bring the activity to analytics.orders_live")
    done = run_line(bad, demo.env)
    assert done.returncode == 0 and "UPDATE 1" in done.stdout, done.stdout + done.stderr
    assert _trigger_and_wait(demo, "erp_orders") == ("failed", "verify")
    done = run_line(fix, demo.env)
    assert done.returncode == 0 and "UPDATE 1" in done.stdout, done.stdout + done.stderr
    assert _trigger_and_wait(demo, "erp_orders") == ("success", "")


def test_without_a_running_demo_psql_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = run_line(readme_psql_lines(README.read_text())[0], second_shell_env(tmp_path / "no-demo", home))
    assert done.returncode != 0 and "the demo is not running" in done.stderr, done.stderr


def test_a_healthy_demo_logs_no_insecure_jwt_key_or_deprecated_httpx_warning(demo: Demo) -> None:
    log = (STATE / "airflow" / "standalone.log").read_text(errors="replace")
    assert "DagRun Finished" in log, "the demo ran no flow: nothing to judge"
    for noise in NOISE:
        assert noise not in log, [line for line in log.splitlines() if noise in line][:3]


def test_after_make_stop_the_cli_says_the_demo_is_not_running(demo: Demo) -> None:
    stopped = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), "stop"],
        env={**demo.env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert stopped.returncode == 0, stopped.stderr
    assert not (STATE / "demo.env").exists(), "the demo's configuration outlives the demo"
    done = run_line(readme_cli_lines(README.read_text())[0], demo.env)
    assert done.returncode != 0 and "the demo is not running" in done.stderr, done.stderr
