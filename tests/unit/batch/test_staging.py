"""A run's batch is staged in its own table of the staging schema, its key set next to it."""

from __future__ import annotations

import pytest

from syncgate.batch.run import RunInfo
from syncgate.batch.staging import keys_of, keys_table, staging_table
from syncgate.db.identifiers import TableRef
from syncgate.state.schema import STAGING_SCHEMA

pytestmark = pytest.mark.unit


def test_each_run_of_a_flow_stages_into_its_own_table_in_the_staging_schema() -> None:
    first, second = RunInfo("orders", "run_1"), RunInfo("orders", "run_2")
    assert staging_table(first) == TableRef(STAGING_SCHEMA, f"orders__{first.key}")
    assert staging_table(first) != staging_table(second)
    assert staging_table(first) == staging_table(
        RunInfo("orders", "run_1", "scheduled")
    )  # a retry: same table


def test_the_key_set_is_staged_next_to_the_batch() -> None:
    run = RunInfo("orders", "run_1")
    assert keys_table(run) == TableRef(STAGING_SCHEMA, f"orders__{run.key}__keys")
    assert keys_of(TableRef("s", "t")) == TableRef("s", "t__keys")


def test_the_longest_flow_id_gives_a_key_table_name_postgresql_keeps_whole() -> None:
    # A flow id has at most 40 characters (spec/fields.py FlowId); PostgreSQL truncates names at 63.
    assert len(keys_table(RunInfo("f" * 40, "run")).name) <= 63
