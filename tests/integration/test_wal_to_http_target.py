"""``source.capture: wal`` into an HTTP target: the deletes the log carries reach the API.

The log's batch has no key set (nothing is scanned): its deleted keys are the whole delete plan.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from crm_push import crm_customers, make_http_spec, push_requests, seed_customers, source_customers
from helpers import execute, sync

from syncgate.connectors.postgres.cdc.flow import drop_flow, setup_flow

pytestmark = pytest.mark.integration


def insert(key: int, name: str) -> str:
    return (
        f"INSERT INTO public.customers VALUES ({key}, '{name}', NULL, 'lead', NULL, 1, "
        """'{"city": "Lyon", "country": "FR"}', '{}', now(), NULL)"""
    )


@pytest.fixture
def wal_push(databases: dict[str, str]) -> Any:
    seed_customers(databases["src"], 30)
    spec = make_http_spec(
        source__cursor=None, source__capture="wal", source__deletes="hard", source__soft_delete_column=None
    )
    setup_flow(spec)
    yield spec
    drop_flow(spec)


def test_log_deletes_updates_and_inserts_reach_the_api_exactly(
    databases: dict[str, str], crm_empty: Any, wal_push: Any
) -> None:
    src = databases["src"]
    first = sync(wal_push)
    assert first["counts"]["rows_pushed"] == 30
    assert crm_customers(crm_empty) == source_customers(src)
    execute(
        src,
        "DELETE FROM public.customers WHERE id IN (3, 4, 5)",
        "UPDATE public.customers SET name = 'Renamed' WHERE id IN (8, 9)",
        insert(31, "New"),
        # Deleted and inserted again in one batch: the API keeps the record, with its new values.
        "DELETE FROM public.customers WHERE id = 12",
        insert(12, "Reborn"),
        # Inserted and deleted in one batch: the API never hears of it.
        insert(40, "Brief"),
        "DELETE FROM public.customers WHERE id = 40",
    )
    writes_before = len(crm_empty.admin.writes())
    second = sync(wal_push)
    assert second["counts"] == {
        "rows_inserted": 1, "rows_updated": 3, "rows_deleted": 3, "rows_pushed": 7, "rows_push_failed": 0,
    }  # fmt: skip
    assert crm_customers(crm_empty) == source_customers(src)
    ops = Counter((w["op"], w["id"]) for w in crm_empty.admin.writes()[writes_before:])
    assert ops == Counter(
        {("delete", 3): 1, ("delete", 4): 1, ("delete", 5): 1, ("update", 8): 1, ("update", 9): 1,
         ("update", 12): 1, ("create", 31): 1}
    )  # fmt: skip
    before = push_requests(crm_empty)
    third = sync(wal_push)  # nothing new in the log: nothing travels
    assert third["rows"] == 0 and third["counts"]["rows_pushed"] == 0
    assert push_requests(crm_empty) == before
