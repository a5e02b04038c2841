"""The connector contract suite: every registered connector, as source and as target, passes it.

Like Airbyte's connector acceptance tests and the Meltano SDK's standard tests: one suite,
parametrised by a harness per system (``contract_harnesses``; the test-only ``sqlite_test``
connector brings its own). A connector registered without a harness fails
``test_every_registered_connector_has_a_harness``.

Sources are read through the protocol (``plan_window`` + ``read`` with a ``ReadRequest``);
targets are written by the five stages, as the DAG chains them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from contract_harnesses import (
    Contents,
    HttpSourceHarness,
    HttpTargetHarness,
    PostgresSourceHarness,
    PostgresTargetHarness,
    SourceHarness,
    TargetHarness,
    pg_text,
)
from helpers import execute, new_run, sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sqlite_connector import SqliteSourceHarness, SqliteTargetHarness, sqlite_connector

from syncgate import landing
from syncgate.connectors.base import ReadRequest, SourceRead
from syncgate.connectors.registry import registered, source_for
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.spec.model import FlowSpec
from syncgate.state.schema import ensure_state_schema
from syncgate.state.watermarks import Watermark

pytestmark = pytest.mark.integration

SOURCES = ("postgres", "http", "sqlite_test")
TARGETS = ("postgres", "http", "sqlite_test")
COUNTS = ("rows_inserted", "rows_updated", "rows_deleted")
# Systems that take credentials (a SQLite file has none: nothing to prove there).
WITH_CREDENTIALS = [n for n in SOURCES if n != "sqlite_test"]
SEEDED = 12
# Change rounds carry cursor values after everything seeded (2024-2025), one day apart.
ROUNDS_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _sqlite_registered() -> Iterator[None]:
    with sqlite_connector():
        yield


@pytest.fixture(params=SOURCES)
def source_harness(
    request: pytest.FixtureRequest,
    databases: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> SourceHarness:
    with connect("dst_db") as state:  # the flow's state database (an HTTP source keeps its schema there)
        ensure_state_schema(state)
        state.commit()
    if request.param == "postgres":
        return PostgresSourceHarness(databases)
    if request.param == "http":
        return HttpSourceHarness(request.getfixturevalue("crm_factory"), monkeypatch)
    return SqliteSourceHarness(tmp_path, monkeypatch)


@pytest.fixture(params=TARGETS)
def target_harness(
    request: pytest.FixtureRequest,
    databases: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> TargetHarness:
    if request.param == "postgres":
        return PostgresTargetHarness(databases)
    if request.param == "http":
        return HttpTargetHarness(request.getfixturevalue("crm_factory"), monkeypatch)
    return SqliteTargetHarness(tmp_path, monkeypatch)


def test_every_registered_connector_has_a_harness() -> None:
    connectors = registered()
    assert {name for name, c in connectors.items() if c.source is not None} == set(SOURCES)
    assert {name for name, c in connectors.items() if c.target is not None} == set(TARGETS)


# -- sources --------------------------------------------------------------------------------


def source_flow(harness: SourceHarness) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "contract_source",
            "retries": 0,
            "source": harness.source(),
            "target": {
                "type": "postgres",
                "conn_id": "dst_db",
                "table": "analytics.contract",
                "write": "merge",
            },
        }
    )


def read(flow: FlowSpec, mark: str | None = None) -> tuple[SourceRead, list[dict[str, Any]]]:
    """One read from watermark ``mark`` through the protocol; the landed rows in key order."""
    source = source_for(flow)
    run = new_run(flow)
    window = source.plan_window(flow, run, Watermark(mark))
    got = source.read(ReadRequest(flow, run, window, Watermark(mark), target_columns={}, with_key_set=False))
    if got.finish:
        got.finish()  # as extract does once the run's start is recorded (drops a checkpoint)
    landed = [r for table in landing.read_batches(got.files["data"]) for r in table.to_pylist()]
    assert len(landed) == got.rows
    return got, sorted(landed, key=lambda r: r["id"])


def test_two_full_reads_are_equal(source_harness: SourceHarness) -> None:
    source_harness.seed(SEEDED)
    flow = source_flow(source_harness)

    first, first_rows = read(flow)
    second, second_rows = read(flow)

    assert [r["id"] for r in first_rows] == sorted(source_harness.cursors()) and len(first_rows) == SEEDED
    assert second.columns == first.columns
    assert second_rows == first_rows
    assert second.next_watermark == first.next_watermark is not None


Round = tuple[frozenset[int], int]  # existing keys updated, new keys created
rounds = st.lists(
    st.tuples(st.frozensets(st.integers(1, SEEDED), max_size=4), st.integers(0, 2)).filter(
        lambda r: bool(r[0]) or r[1] > 0
    ),
    min_size=1,
    max_size=3,
)


@given(changes=rounds)
@settings(
    max_examples=3, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_an_incremental_read_from_every_saved_state_returns_exactly_the_later_changes(
    source_harness: SourceHarness, changes: list[Round]
) -> None:
    source_harness.seed(SEEDED)
    flow = source_flow(source_harness)
    seeded = source_harness.cursors()
    newest = max(seeded.values())
    # The window is inclusive (``>=``, syncgate.batch.window): records AT a saved watermark are
    # read again, for merge to compare. So from the state saved after round j, a read returns
    # every record of rounds j..n; from the state saved after the full read, the seeded
    # records at the newest seeded value as well.
    first, _ = read(flow)
    assert first.next_watermark is not None
    saved = [first.next_watermark["value"]]
    touched: list[set[int]] = []
    next_key = SEEDED + 1
    for number, (updated, created) in enumerate(changes, 1):
        keys = sorted(updated) + list(range(next_key, next_key + created))
        next_key += created
        at = ROUNDS_START + timedelta(days=number)
        source_harness.upsert(keys, at)
        touched.append(set(keys))
        got, _ = read(flow, saved[-1])
        assert got.next_watermark is not None
        assert datetime.fromisoformat(got.next_watermark["value"]) == at  # the newest change
        saved.append(got.next_watermark["value"])
    at_newest = {k for k, at in seeded.items() if at == newest}
    expected = [at_newest | set().union(*touched)]
    expected += [set().union(*touched[j:]) for j in range(len(touched))]
    _, now = read(flow)
    current = {r["id"]: r for r in now}
    cursors = source_harness.cursors()
    for mark, keys in zip(saved, expected, strict=True):
        _, landed = read(flow, mark)
        assert {r["id"] for r in landed} == keys, f"from watermark {mark}"
        # The same set, told by the source system itself rather than by the rounds.
        assert keys == {k for k, at in cursors.items() if at >= datetime.fromisoformat(mark)}
        assert landed == [current[k] for k in sorted(keys)]


def test_a_future_watermark_returns_nothing(source_harness: SourceHarness) -> None:
    source_harness.seed(SEEDED)
    flow = source_flow(source_harness)

    got, landed = read(flow, source_harness.stamp(datetime(2999, 1, 1, tzinfo=UTC)))

    assert (got.rows, landed, got.next_watermark) == (0, [], None)


@pytest.mark.parametrize("source_harness", WITH_CREDENTIALS, indirect=True)
def test_bad_source_credentials_name_the_connection_and_hold_no_secret(
    source_harness: SourceHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source_harness.seed(3)
    flow = source_flow(source_harness)
    broken = source_harness.break_credentials(monkeypatch)
    assert broken is not None, f"{source_harness.name} has credentials: its harness must break them"
    conn_id, secret = broken
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as failed:
        read(flow)
    assert_names_connection_without_secret(failed.value, conn_id, secret, caplog)


def assert_names_connection_without_secret(
    exc: BaseException, conn_id: str, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert repr(conn_id) in str(exc), f"the error does not name connection {conn_id!r}: {exc}"
    shown = "".join(traceback.format_exception(exc))  # the chained causes reach task logs too
    assert secret not in shown
    assert secret not in caplog.text


# -- targets --------------------------------------------------------------------------------

CUSTOMERS_DDL = """
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text,
    status text NOT NULL,
    tier integer,
    lifetime_value numeric(12,2),
    updated_at timestamptz NOT NULL
)
"""


def seed_customers(url: str, count: int) -> None:
    execute(
        url,
        CUSTOMERS_DDL,
        f"""INSERT INTO public.customers
            SELECT g, 'Customer ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'c' || g || '@example.com' END,
                   (ARRAY['active', 'inactive', 'lead'])[1 + g % 3], NULLIF(g % 4, 0), g * 10.5,
                   '2026-01-01 00:00:00+00'::timestamptz + (g / 3) * interval '1 minute'
            FROM generate_series(1, {count}) g""",
    )


def target_flow(harness: TargetHarness) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "contract_target",
            "retries": 0,
            "source": {
                "type": "postgres",
                "conn_id": "src_db",
                "table": "public.customers",
                "primary_key": ["id"],
                "cursor": "updated_at",
                "deletes": "hard",
            },
            "target": harness.target(),
        }
    )


def source_contents(url: str, harness: TargetHarness) -> Contents:
    return pg_text(url, "public.customers", harness.columns)


def counts(result: dict[str, Any]) -> tuple[int, ...]:
    return tuple(result[k] for k in COUNTS)


def test_what_a_target_wrote_reads_back_equal(
    target_harness: TargetHarness, databases: dict[str, str]
) -> None:
    src = databases["src"]
    seed_customers(src, 30)
    flow = target_flow(target_harness)

    assert counts(sync(flow)["counts"]) == (30, 0, 0)
    assert target_harness.contents() == source_contents(src, target_harness)
    assert len(target_harness.contents()) == 30

    execute(
        src,
        "UPDATE public.customers SET tier = coalesce(tier, 0) + 1, email = NULL, "
        "updated_at = '2026-02-01 00:00:00+00' WHERE id IN (3, 4, 5)",
        "INSERT INTO public.customers VALUES (31, 'New 31', 'n31@example.com', 'lead', NULL, 0.5, "
        "'2026-02-01 00:00:00+00'), (32, 'New 32', NULL, 'active', 2, NULL, '2026-02-01 00:00:00+00')",
        "DELETE FROM public.customers WHERE id = 7",
    )
    assert counts(sync(flow)["counts"]) == (2, 3, 1)
    assert target_harness.contents() == source_contents(src, target_harness)


def test_applying_the_same_batch_twice_changes_nothing(
    target_harness: TargetHarness, databases: dict[str, str]
) -> None:
    src = databases["src"]
    seed_customers(src, 20)
    flow = target_flow(target_harness)
    run = new_run(flow)
    batch = verify(flow, run, load(flow, run, transform(flow, extract(flow, run))))

    first = promote(flow, run, batch)
    written = target_harness.contents()
    second = promote(flow, run, batch)  # a retried promote of an applied batch

    assert counts(first) == (20, 0, 0)
    assert second == first
    assert target_harness.contents() == written == source_contents(src, target_harness)

    # A new run without source changes re-reads the boundary rows and writes nothing.
    again = sync(flow)
    assert again["rows"] > 0, "the run read nothing: it would prove nothing"
    assert counts(again["counts"]) == (0, 0, 0)
    assert target_harness.contents() == written


def test_a_target_applies_no_batch_the_gate_did_not_pass_as_it_is(
    target_harness: TargetHarness, databases: dict[str, str]
) -> None:
    """Unverified, rejected, or changed after verify: the target refuses and stays as it was."""
    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 10)
    flow = target_flow(target_harness)
    sync(flow)
    before = target_harness.contents()
    execute(
        src,
        "UPDATE public.customers SET name = 'changed', updated_at = '2026-03-01 00:00:00+00' WHERE id = 4",
    )
    run = new_run(flow)
    staged = load(flow, run, transform(flow, extract(flow, run)))
    with pytest.raises(FatalError, match="has no quality verdict"):
        promote(flow, run, staged)  # verify never ran (marked success by hand)
    verified = verify(flow, run, staged)
    execute(dst, f"UPDATE {staged.staging_table} SET name = 'edited by hand' WHERE id = 4")
    with pytest.raises(FatalError, match="changed after verify passed it"):
        promote(flow, run, verified)
    assert target_harness.contents() == before, "a refused batch reached the target"


@pytest.mark.parametrize("target_harness", WITH_CREDENTIALS, indirect=True)
def test_bad_target_credentials_name_the_connection_and_hold_no_secret(
    target_harness: TargetHarness,
    databases: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_customers(databases["src"], 3)
    flow = target_flow(target_harness)
    broken = target_harness.break_credentials(monkeypatch)
    assert broken is not None, f"{target_harness.name} has credentials: its harness must break them"
    conn_id, secret = broken
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as failed:
        sync(flow)
    assert_names_connection_without_secret(failed.value, conn_id, secret, caplog)
    with psycopg.connect(databases["dst"]) as conn:  # nothing of the failed run recorded the secret
        found = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'syncgate'").fetchone()
        if found and found[0]:
            text = conn.execute(
                "SELECT coalesce(string_agg(row_to_json(r)::text, ''), '') FROM syncgate.sync_runs r"
            )
            row = text.fetchone()
            assert row is not None and secret not in row[0]
