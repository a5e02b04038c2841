"""Connections cut by a TCP proxy on loopback, between syncgate and PostgreSQL or an HTTP API.

The proxy (``faultkit.Proxy``) closes both sockets of every connection at a chosen byte of the
stream, or goes silent on one connection (a blackhole), or refuses every connection. A cut
read or write fails the task with an error Airflow retries (or the HTTP client's retry policy
absorbs it); the target never takes a partial batch, and the retry or rerun repairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from faultkit import (
    Proxy,
    assert_repaired,
    proxied_url,
    synced_then_changed,
    track_watermark,
    watermark_moves,
    watermark_value,
)
from helpers import execute, new_run, rows, sync
from http_helpers import FLOW, http_spec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from syncgate.errors import RetriableError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration


def as_task(body: Any) -> BaseException | None:
    """Run ``body`` as a stage task does; the error it ended with (None: it succeeded)."""
    from syncgate.dag_factory import _stage

    try:
        _stage(body)
    except BaseException as exc:  # noqa: BLE001 - the test inspects whatever ended the task
        return exc
    return None


def assert_retried_by_airflow(error: BaseException | None) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    assert error is not None, "the cut went unnoticed"
    assert not isinstance(error, AirflowFailException), error


@pytest.fixture
def pg_proxy(databases: dict[str, str]) -> Iterator[Any]:
    """Start a proxy in front of the test cluster: ``pg_proxy()`` -> Proxy."""
    from urllib.parse import urlsplit

    started: list[Proxy] = []

    def start() -> Proxy:
        upstream = urlsplit(databases["src"])
        proxy = Proxy((str(upstream.hostname), int(upstream.port or 5432)))
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()


def reset(src: str, dst: str) -> None:
    execute(src, "DROP TABLE IF EXISTS public.orders")
    execute(
        dst,
        *(f"DROP SCHEMA IF EXISTS {name} CASCADE" for name in ("analytics", "syncgate", "syncgate_staging")),
        "DROP TABLE IF EXISTS public.watermark_writes",
    )


def staged_run(spec: Any) -> tuple[Any, Any]:
    run = new_run(spec)
    return run, verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


# Two examples, no shrinking: each is a whole sync (the failing example is printed as drawn).
@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cut_at=st.integers(0, 40_000))
def test_a_source_connection_cut_mid_read_fails_the_extract_and_its_retry_repairs(
    databases: dict[str, str], pg_proxy: Any, monkeypatch: pytest.MonkeyPatch, cut_at: int
) -> None:
    src, dst = databases["src"], databases["dst"]
    reset(src, dst)  # hypothesis runs every example on the same databases
    spec, before = synced_then_changed(src, dst, 3000)

    proxy = pg_proxy()
    run = new_run(spec)
    with monkeypatch.context() as patch:  # the next example starts without the proxy
        patch.setenv("AIRFLOW_CONN_SRC_DB", proxied_url(src, proxy.port))
        proxy.cut_when(b"COPY", after=cut_at)  # the source's read, cut_at bytes into its answer
        assert_retried_by_airflow(as_task(lambda: extract(spec, run)))
        assert proxy.cuts == 1
        assert watermark_value(dst) == before
        batch = extract(spec, run)  # the task's retry, through the same proxy

    promote(spec, run, verify(spec, run, load(spec, run, transform(spec, batch))))

    assert_repaired(src, dst, before=before)


def test_a_state_connection_cut_inside_promote_commits_nothing_and_the_retry_repairs(
    databases: dict[str, str], pg_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = databases["src"], databases["dst"]
    spec, before = synced_then_changed(src, dst, 2000)
    run, batch = staged_run(spec)

    proxy = pg_proxy()
    monkeypatch.setenv("AIRFLOW_CONN_DST_DB", proxied_url(dst, proxy.port))
    # Rows merged, deletes applied: the cut lands as the watermark is written, before COMMIT.
    proxy.cut_when(b"INSERT INTO syncgate.watermarks")
    assert_retried_by_airflow(as_task(lambda: promote(spec, run, batch)))
    assert proxy.cuts == 1
    assert watermark_moves(dst) == []

    promote(spec, run, batch)  # the task's retry, through the same proxy

    assert_repaired(src, dst, before=before)


# --- an HTTP API behind the proxy ------------------------------------------------------------


@pytest.fixture
def api_proxy(crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The demo CRM behind a proxy, wired as the ``crm_api`` connection."""
    host, port = crm.url.removeprefix("http://").split(":")
    proxy = Proxy((host, int(port)))
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": proxy.port, "password": crm.token}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", json.dumps(conn))
    yield proxy
    proxy.close()


def crm_rows(crm: Any) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["name"], r["email"], r["updated_at"]) for r in crm.admin.records("customers"))


def assert_api_repaired(crm: Any, dst: str, before: str | None) -> None:
    target = rows(
        dst,
        "SELECT id, name, email, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
        "FROM analytics.customers ORDER BY id",
    )
    source = crm_rows(crm)
    assert [r[:3] for r in target] == [r[:3] for r in source]
    ((total, keys),) = rows(dst, "SELECT count(*), count(DISTINCT id) FROM analytics.customers")
    assert total == keys
    after = watermark_value(dst, FLOW)
    assert watermark_moves(dst, FLOW) == [(before, after)]
    assert after == max(r[3] for r in source)
    assert rows(dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'syncgate_staging'") == [(0,)]


def test_an_api_connection_cut_or_gone_silent_mid_page_is_retried_within_the_run(
    crm: Any, api_proxy: Proxy, databases: dict[str, str]
) -> None:
    dst = databases["dst"]
    track_watermark(dst)
    # Page 2's answer is cut after 300 bytes; page 4's connection goes silent (the client's
    # timeout ends the wait); both are retried on a new connection, within the run.
    api_proxy.cut_when(b"&page=2 HTTP", after=300)
    api_proxy.blackhole_when(b"&page=4 HTTP")
    spec = http_spec(
        "page",
        source__cursor_param=None,  # positional paging: page=2, page=3... (not re-anchored on the cursor)
        source__timeout=1,
        source__retry={"max_attempts": 4, "backoff_seconds": 0.05},
    )
    sync(spec)
    assert (api_proxy.cuts, api_proxy.holes) == (1, 1)
    assert_api_repaired(crm, dst, before=None)


def test_an_api_out_of_reach_fails_the_run_with_nothing_promoted_and_the_rerun_repairs(
    crm: Any, api_proxy: Proxy, databases: dict[str, str]
) -> None:
    dst = databases["dst"]
    spec = http_spec("page", source__retry={"max_attempts": 3, "backoff_seconds": 0.05})
    sync(spec)
    track_watermark(dst)
    before = watermark_value(dst, FLOW)
    crm.admin.touch("customers", count=20)
    api_proxy.refuse = True
    api_proxy.cut_now()
    with pytest.raises(RetriableError, match="gave up after 3 attempt"):
        sync(spec)
    assert watermark_moves(dst, FLOW) == []
    api_proxy.refuse = False
    sync(spec)
    assert_api_repaired(crm, dst, before=before)
