"""One error hierarchy: every class picks a recovery strategy, and the task wrapper honours it.

``dag_factory._stage`` runs each stage of a flow's DAG: a ``RetriableError`` must reach Airflow
as itself (the task's retries apply), anything else syncgate raises must become an
``AirflowFailException`` (the task fails at once). The table below pins the decision for every
exception class defined under ``include/syncgate``; a new class fails the coverage test until it
is added here with a deliberate choice.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import pkgutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException

import syncgate
from syncgate import dag_factory
from syncgate.cli.flows import CliError
from syncgate.conflicts.log import ResolutionRefused
from syncgate.connectors.http.client import ApiClient, HttpRetriableError, HttpStatusError, HttpTlsError
from syncgate.connectors.http.coerce import CoerceError
from syncgate.connectors.http.drift import SchemaDriftError
from syncgate.connectors.http.pagination import PaginationLoopError
from syncgate.connectors.http.retry import RetryPolicy
from syncgate.connectors.postgres.cdc.pgoutput import DecodeError
from syncgate.errors import (
    BatchSuperseded,
    ConcurrentRunError,
    ContractError,
    DataQualityError,
    FatalError,
    FlowBusyError,
    RetriableError,
    SpecError,
    SyncgateError,
)
from syncgate.events.webhook import WebhookRefused, WebhookSecretsUnavailable
from syncgate.spec.bounded_yaml import SpecTooCostly
from syncgate.staging import copy_binary
from syncgate.state.migrations import StateSchemaTooNew
from syncgate.state.target_owners import TargetOwnedError
from syncgate.ui.queries import StateUnavailable

pytestmark = pytest.mark.unit

SECRET = "t0ken-SECRET-42"

# class -> (an instance as the engine raises it, whether the task retries)
RECOVERY: dict[type[BaseException], tuple[Callable[[], BaseException], bool]] = {
    RetriableError: (lambda: RetriableError("cannot connect to 'dst'"), True),
    HttpRetriableError: (lambda: HttpRetriableError("GET /v1/x: gave up after 5 attempt(s): HTTP 503", 503, "/v1/x"), True),
    StateUnavailable: (lambda: StateUnavailable("state database 'dst' is unreachable"), True),
    SyncgateError: (lambda: SyncgateError("no strategy chosen"), False),
    FatalError: (lambda: FatalError("target analytics.orders has no column(s) region"), False),
    SpecError: (lambda: SpecError("flows/x.yml", ["target.table: required"]), False),
    DataQualityError: (lambda: DataQualityError("orders", ["expect_column_values_to_not_be_null(id)"], None), False),
    ConcurrentRunError: (lambda: ConcurrentRunError("the watermark of flow 'orders' moved"), False),
    FlowBusyError: (lambda: FlowBusyError("another run has been reading the source of flow 'f' for 15min"), True),
    # Settled as 'superseded' by the one-way promote; where it escapes, a retry would meet it again.
    BatchSuperseded: (lambda: BatchSuperseded("batch #2, newest promoted #3", newest=3), False),
    ContractError: (lambda: ContractError("flow 'orders': promote received no batch"), False),
    HttpStatusError: (lambda: HttpStatusError("GET /v1/x failed with HTTP 403: forbidden", 403, "/v1/x"), False),
    HttpTlsError: (lambda: HttpTlsError("GET /v1/x: the server's TLS certificate was refused: unknown CA"), False),
    PaginationLoopError: (lambda: PaginationLoopError("pagination loop: next token seen before"), False),
    SchemaDriftError: (lambda: SchemaDriftError("column 'email' was removed"), False),
    CoerceError: (lambda: CoerceError("got a JSON string that is not an ISO-8601 date"), False),
    copy_binary._NotEncodable: (lambda: copy_binary._NotEncodable(), False),
    ResolutionRefused: (lambda: ResolutionRefused("conflict 4 of flow 'f' is resolved, not parked"), False),
    CliError: (lambda: CliError("no sync flow 'f'"), False),
    DecodeError: (lambda: DecodeError("malformed pgoutput 'I' message"), False),
    WebhookRefused: (lambda: WebhookRefused("no valid signature"), False),
    WebhookSecretsUnavailable: (lambda: WebhookSecretsUnavailable("webhook secret connection 'crm' holds no usable secret"), True),
    StateSchemaTooNew: (lambda: StateSchemaTooNew("the syncgate state schema of database 'w' is at version 9"), False),
    SpecTooCostly: (lambda: SpecTooCostly("the file has 2,000,000 bytes, more than the 1,048,576"), False),
    TargetOwnedError: (lambda: TargetOwnedError("flow 'b' may not write table:a.t: that target belongs to flow 'a'"), False),
}  # fmt: skip


def _raising(exc: BaseException) -> Callable[[], None]:
    def body() -> None:
        raise exc

    return body


@pytest.mark.parametrize(
    ("cls", "retries"), [(cls, retries) for cls, (_, retries) in RECOVERY.items()], ids=lambda v: getattr(v, "__name__", str(v))
)  # fmt: skip
def test_the_task_retries_exactly_the_retriable_errors(cls: type[BaseException], retries: bool) -> None:
    exc = RECOVERY[cls][0]()
    assert type(exc) is cls
    if retries:
        with pytest.raises(cls) as raised:
            dag_factory._stage(_raising(exc))
        assert raised.value is exc  # untouched: Airflow applies the task's retries
    else:
        with pytest.raises(AirflowFailException) as failed:
            dag_factory._stage(_raising(exc))
        assert failed.value.__cause__ is exc
        assert str(failed.value) == str(exc)


def test_a_concurrent_run_refusal_is_not_retriable() -> None:
    # A refused promote would be refused again by each of the task's back-off retries.
    assert issubclass(ConcurrentRunError, FatalError)
    assert not issubclass(ConcurrentRunError, RetriableError)


def test_errors_from_outside_syncgate_keep_airflows_retries_except_data_errors() -> None:
    dropped = psycopg.OperationalError("server closed the connection unexpectedly")
    with pytest.raises(psycopg.OperationalError) as raised:
        dag_factory._stage(_raising(dropped))
    assert raised.value is dropped
    bad_value = psycopg.errors.NumericValueOutOfRange("value 123456789 is out of range for type integer")
    with pytest.raises(AirflowFailException) as failed:
        dag_factory._stage(_raising(bad_value))
    assert "123456789" not in str(failed.value)  # PostgreSQL quoted the value: it may be PII


def test_a_successful_stage_returns_its_result() -> None:
    assert dag_factory._stage(lambda: {"rows": 3}) == {"rows": 3}


# -- HTTP: the real client's errors, through the task wrapper --------------------------------------


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status = int(self.path.strip("/").split("/")[-1])
        body = json.dumps({"error": f"token {SECRET} is not welcome here"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": server.server_port, "password": SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_ERRORS_API", json.dumps(conn))
    client = ApiClient(
        "errors_api", retry=RetryPolicy(max_attempts=2, backoff_seconds=0.0), sleep=lambda _: None
    )
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_an_http_4xx_fails_the_task_at_once_without_the_token(api: ApiClient, status: int) -> None:
    with pytest.raises(AirflowFailException) as failed:
        dag_factory._stage(lambda: api.get_json(f"/v1/status/{status}"))
    assert isinstance(failed.value.__cause__, HttpStatusError)
    assert f"HTTP {status}" in str(failed.value)
    assert SECRET not in str(failed.value)
    assert api.requests_sent == 1  # no in-client retry either


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_http_429_or_5xx_after_the_retry_budget_retries_the_task(api: ApiClient, status: int) -> None:
    with pytest.raises(HttpRetriableError) as raised:
        dag_factory._stage(lambda: api.get_json(f"/v1/status/{status}"))
    assert raised.value.status == status
    assert "gave up after 2 attempt(s)" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert api.requests_sent == 2


def test_an_unreachable_api_retries_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Api) as closed:
        port = closed.server_port  # bound, then closed: nothing listens there
    monkeypatch.setenv(
        "AIRFLOW_CONN_ERRORS_GONE", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port})
    )
    client = ApiClient(
        "errors_gone", retry=RetryPolicy(max_attempts=2, backoff_seconds=0.0), sleep=lambda _: None
    )
    with pytest.raises(HttpRetriableError, match="connection failed"):
        dag_factory._stage(lambda: client.get_json("/v1/x"))
    client.close()


# -- no stray hierarchies --------------------------------------------------------------------------

_EXCEPTION_LOOKING = ("Error", "Exception", "Warning", "Exit", "Interrupt")


def _syncgate_modules() -> list[ModuleType]:
    names = [syncgate.__name__] + [m.name for m in pkgutil.walk_packages(syncgate.__path__, "syncgate.")]
    return [importlib.import_module(name) for name in sorted(names)]


def _base_names(node: ast.ClassDef) -> list[str]:
    return [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]


def exception_classes(module: ModuleType, source: str) -> tuple[list[type[BaseException]], list[str]]:
    """The exception classes ``source`` (the code of ``module``) defines, and those it hides.

    A class defined at module level or inside a class is looked up on the module. One defined
    inside a function cannot be; it is reported (as ``module:line Name``) when its bases look
    like exceptions, since nothing could check where it sits in the hierarchy.
    """
    found: list[type[BaseException]] = []
    hidden: list[str] = []

    def visit(node: ast.AST, owner: object | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                cls = getattr(owner, child.name, None) if owner is not None else None
                if isinstance(cls, type) and issubclass(cls, BaseException):
                    found.append(cls)
                elif cls is None and any(b.endswith(_EXCEPTION_LOOKING) for b in _base_names(child)):
                    hidden.append(f"{module.__name__}:{child.lineno} {child.name}")
                visit(child, cls)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, None)
            else:
                visit(child, owner)

    visit(ast.parse(source), module)
    return found, hidden


@functools.cache
def _all_exception_classes() -> tuple[set[type[BaseException]], list[str]]:
    classes: set[type[BaseException]] = set()
    hidden: list[str] = []
    for module in _syncgate_modules():
        assert module.__file__ is not None
        found, unreachable = exception_classes(module, Path(module.__file__).read_text(encoding="utf-8"))
        classes.update(found)
        hidden += unreachable
    # Also whatever the interpreter knows about, e.g. a class made by type(...) at import.
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.split(".")[0] == syncgate.__name__:
            classes.add(cls)
    return classes, hidden


def test_every_exception_class_of_the_engine_is_a_syncgate_error() -> None:
    classes, hidden = _all_exception_classes()
    assert {SyncgateError, ConcurrentRunError, HttpStatusError, CoerceError} <= classes  # it looked
    strays = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, SyncgateError))
    assert not strays, f"exception classes outside the SyncgateError hierarchy (see errors.py): {strays}"
    assert not hidden, f"exception classes defined inside a function, out of any check's reach: {hidden}"


def test_every_class_has_chosen_a_side_and_is_pinned_here() -> None:
    classes, _ = _all_exception_classes()
    undecided = sorted(
        c.__qualname__ for c in classes - {SyncgateError} if not issubclass(c, (RetriableError, FatalError))
    )
    assert not undecided, f"neither RetriableError nor FatalError: {undecided}"
    unpinned = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes - set(RECOVERY))
    assert not unpinned, f"add these to RECOVERY with whether the task retries: {unpinned}"
    for cls, (_, retries) in RECOVERY.items():
        assert retries == issubclass(cls, RetriableError), cls


def test_the_walk_catches_a_stray_class() -> None:
    source = (
        "from syncgate.errors import FatalError\n"
        "class Fine(FatalError):\n    pass\n"
        "class Stray(ValueError):\n    pass\n"
        "class Holder:\n    class Inner(KeyError):\n        pass\n"
        "def make():\n    class Hidden(RuntimeError):\n        pass\n    return Hidden\n"
    )
    module = ModuleType("syncgate_synthetic")
    exec(compile(source, "syncgate_synthetic.py", "exec"), module.__dict__)  # noqa: S102 (our own literal)
    found, hidden = exception_classes(module, source)
    assert sorted(c.__name__ for c in found) == ["Fine", "Inner", "Stray"]
    assert [c.__name__ for c in found if not issubclass(c, SyncgateError)] == ["Stray", "Inner"]
    assert hidden == ["syncgate_synthetic:10 Hidden"]
