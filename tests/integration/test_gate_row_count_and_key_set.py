"""The gate's digest counts the whole staged table whatever row count checks a spec adds, and a
hard-delete run never stands in a partial batch for the source's key set, whichever source read it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from helpers import (
    execute,
    make_spec,
    new_run,
    rows,
    seed_orders,
    source_orders,
    sync,
    target_orders,
)

from syncgate.connectors.base import Connector, ReadRequest, SourceRead
from syncgate.connectors.postgres.source import PostgresSource
from syncgate.connectors.postgres.spec import PostgresSource as PostgresSourceSpec
from syncgate.connectors.registry import register, unregister
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify
from syncgate.quality import verdicts

pytestmark = pytest.mark.integration

STATUS_IN_SET = {
    "type": "expect_column_values_to_be_in_set",
    "kwargs": {"column": "status", "value_set": ["pending", "shipped", "cancelled"]},
}


def conditioned_row_count(status: str, value: int) -> dict[str, Any]:
    """A user's own row count check on a subset of the batch (GX ``row_condition``)."""
    return {
        "type": "expect_table_row_count_to_equal",
        "kwargs": {
            "value": value,
            "row_condition": f'col("status")=="{status}"',
            "condition_parser": "great_expectations",
        },
    }


# -- 1. The seal takes ANY expect_table_row_count_to_equal result as the staged table's count ----


def test_the_seal_counts_the_staged_table_not_a_users_conditioned_row_count() -> None:
    """quality/verdicts.py ``Seal.observed``: the last result of type
    expect_table_row_count_to_equal wins, including a user's expectation with a
    ``row_condition`` (a subset). The digest then pins the subset's count as the table's."""
    staged = TableRef("syncgate_staging", "f__abc")
    builtin = {
        "type": "expect_table_row_count_to_equal",
        "kwargs": {"value": 50},
        "meta": {"syncgate": "builtin"},
        "success": True,
        "observed_value": 50,
    }
    users = {
        **conditioned_row_count("test", 0),
        "meta": {},
        "success": True,
        "observed_value": 0,
    }
    for results in ([builtin, users], [users, builtin]):
        seal = verdicts.Seal([staged])
        seal.observed(results)
        assert seal.rows.get(str(staged), 50) == 50, results


def test_a_verified_unchanged_batch_with_a_conditioned_row_count_check_is_promoted(
    databases: dict[str, str],
) -> None:
    """ "No rows of the test status" is a natural gate check; with it no batch can ever be
    promoted: promote says the unchanged batch "holds 50 rows where verify checked 0 (DELETE)"."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec(quality__expectations=[STATUS_IN_SET, conditioned_row_count("test", 0)])
    sync(spec)
    assert target_orders(dst) == source_orders(src)


def test_rows_deleted_from_a_verified_batch_are_refused_even_with_a_conditioned_row_count_check(
    databases: dict[str, str],
) -> None:
    """The same mix-up lets a DELETE through: the digest records the subset's count (17), so
    deleting every staged row outside the subset after verify leaves exactly the recorded
    count, no row with a new xmin, and promote applies a batch the gate never saw (the first
    load adopts the 17-row table as the target)."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)  # status cycles P, S, X: 17 of 50 rows map to 'cancelled'
    spec = make_spec(quality__expectations=[STATUS_IN_SET, conditioned_row_count("cancelled", 17)])
    run = new_run(spec)
    staged = load(spec, run, transform(spec, extract(spec, run)))
    verified = verify(spec, run, staged)

    execute(dst, f"DELETE FROM {staged.staging_table} WHERE status <> 'cancelled'")

    try:
        promote(spec, run, verified)
    except FatalError as exc:
        assert "changed after verify passed it" in str(exc)
    else:
        held = rows(dst, "SELECT count(*) FROM analytics.orders")[0][0]
        pytest.fail(f"promote applied a batch changed after verify: the target holds {held} of 50 rows")
    assert rows(dst, "SELECT to_regclass('analytics.orders')") == [(None,)]


# -- 2. A source that does not land the key set: the target deletes everything outside the window --


class NoKeysSourceSpec(PostgresSourceSpec):
    """A PostgreSQL source under another type name (a third-party connector)."""

    type: Literal["pg_nokeys_test"]  # type: ignore[assignment]


class NoKeysSource(PostgresSource):
    """Reads like the PostgreSQL source but never lands ``keys.parquet`` (ignores
    ``ReadRequest.with_key_set``), as a connector that forgot that part of the protocol."""

    def read(self, request: ReadRequest) -> SourceRead:
        return super().read(dataclasses.replace(request, with_key_set=False))


@pytest.fixture
def nokeys_connector() -> Iterator[None]:
    register(Connector("pg_nokeys_test", NoKeysSourceSpec, None, NoKeysSource, None))  # type: ignore[arg-type]
    try:
        yield
    finally:
        unregister("pg_nokeys_test")


@pytest.mark.usefixtures("nokeys_connector")
def test_an_incremental_hard_delete_run_without_the_source_key_set_deletes_nothing_it_should_not(
    databases: dict[str, str],
) -> None:
    """A source that ignores ``with_key_set`` on an incremental run: extract refuses the batch
    (a target would otherwise take the partial batch for the source's whole key set and delete
    every row outside the window)."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 50)
    spec = make_spec(source__type="pg_nokeys_test")
    sync(spec)
    assert len(target_orders(dst)) == 50

    execute(src, "UPDATE public.orders SET amount = 1, updated_at = now() WHERE id <= 5")
    with pytest.raises(FatalError, match="landed no key set although `deletes: hard` needs one"):
        sync(spec)
    assert len(target_orders(dst)) == 50, "rows that still exist at the source were deleted"
