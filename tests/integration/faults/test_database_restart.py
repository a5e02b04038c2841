"""A crash and restart of the target's PostgreSQL (``pg_ctl restart -m immediate``) mid-COPY and
mid-promote: the task fails with an error Airflow retries, nothing is promoted, and the rerun
repairs.

The target (and state) database lives on a cluster of its own, started for this module; the
source stays on the shared test cluster. Crash recovery empties UNLOGGED tables, which staging
tables are: a retried promote must notice that its verified batch is gone, not apply nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from faultkit import (
    Cluster,
    assert_repaired,
    free_port,
    synced_then_changed,
    wait_for_expiry,
    watermark_value,
)
from helpers import new_run, sync

from syncgate.errors import FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    own = Cluster(tmp_path_factory.mktemp("crashing") / "pg", free_port())
    yield own
    own.destroy()


@pytest.fixture
def crashing_dst(
    databases: dict[str, str], cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """``databases`` with the target and state database on the crashing cluster."""
    name = databases["dst"].rsplit("/", 1)[1]
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dst = cluster.url.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("AIRFLOW_CONN_DST_DB", dst)
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", "1")
    yield {**databases, "dst": dst}
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def paused(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, calls: int, after: bool
) -> tuple[threading.Event, threading.Event]:
    """Make ``owner.name`` wait at its ``calls``-th call (before or after running) until released."""
    reached, release = threading.Event(), threading.Event()
    real = getattr(owner, name)
    seen = [0]

    def waiting(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] == calls and not after:
            reached.set()
            release.wait(60)
        result = real(*args, **kwargs)
        if seen[0] == calls and after:
            reached.set()
            release.wait(60)
        return result

    monkeypatch.setattr(owner, name, waiting)
    return reached, release


def crash_during(
    body: Callable[[], Any], reached: threading.Event, release: threading.Event, cluster: Cluster
) -> BaseException:
    """Run ``body`` as a task does (``dag_factory._stage``) and crash the cluster when it pauses;
    the error the task ended with."""
    from syncgate.dag_factory import _stage

    failure: list[BaseException] = []

    def task() -> None:
        try:
            _stage(body)
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever ended the task
            failure.append(exc)

    thread = threading.Thread(target=task, daemon=True)
    thread.start()
    try:
        assert reached.wait(60), "the stage never reached the crash point"
        cluster.restart_immediately()
    finally:
        release.set()
    thread.join(60)
    assert failure, "the stage survived its database's crash without an error"
    return failure[0]


def assert_retried_by_airflow(error: BaseException) -> None:
    """Not a failure Airflow gives up on at once: the task's retries apply."""
    from airflow.sdk.exceptions import AirflowFailException

    assert not isinstance(error, AirflowFailException), error
    assert isinstance(error, psycopg.OperationalError), repr(error)


def test_a_crash_mid_copy_fails_the_load_and_its_retry_repairs(
    crashing_dst: dict[str, str], cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.staging import copy_binary

    src, dst = crashing_dst["src"], crashing_dst["dst"]
    monkeypatch.setenv("SYNCGATE_BATCH_BYTES", "16384")
    monkeypatch.setenv("SYNCGATE_LOAD_STREAMS", "1")
    spec, before = synced_then_changed(src, dst, 3000)
    run = new_run(spec)
    batch = transform(spec, extract(spec, run))
    with monkeypatch.context() as patch:
        reached, release = paused(patch, copy_binary, "encode", calls=2, after=False)
        error = crash_during(lambda: load(spec, run, batch), reached, release, cluster)
    assert_retried_by_airflow(error)
    assert watermark_value(dst) == before

    promote(spec, run, verify(spec, run, load(spec, run, batch)))  # the load task's retry

    assert_repaired(src, dst, before=before)


def test_a_crash_mid_promote_commits_nothing_and_the_next_run_repairs(
    crashing_dst: dict[str, str], cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.batch import settle

    src, dst = crashing_dst["src"], crashing_dst["dst"]
    spec, before = synced_then_changed(src, dst, 3000)
    run = new_run(spec)
    batch = verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))
    with monkeypatch.context() as patch:
        reached, release = paused(patch, settle, "settle", calls=1, after=True)  # written, not committed
        error = crash_during(lambda: promote(spec, run, batch), reached, release, cluster)
    assert_retried_by_airflow(error)
    assert watermark_value(dst) == before

    # The promote task's retry: crash recovery emptied the UNLOGGED staged batch, so the verdict
    # no longer matches it and nothing is applied (an empty batch would delete every row).
    with pytest.raises(
        FatalError, match=r"is empty where verify checked \d+ rows .* a crash of its database"
    ):
        promote(spec, run, batch)
    assert watermark_value(dst) == before

    wait_for_expiry(dst, run)  # no failure callback marked it failed: its lease ends (1 s here)
    sync(spec)  # the next run

    assert_repaired(src, dst, before=before)
