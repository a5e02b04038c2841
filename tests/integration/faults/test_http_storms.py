"""HTTP storms: an API answering bursts of 429 (with Retry-After), 500 / 502 / 503, slow answers
past the client's timeout, dropped connections and truncated bodies, in generated orders.

Pulling from the API, a storm the retry policy can absorb ends in a correct sync; one it cannot
fails the run with nothing promoted, and the rerun repairs. Pushing to the API (whose contract
makes writes idempotent by key), a storm that also loses answers of applied writes never makes
the API apply a record twice, and the target ends equal to the source.
"""

from __future__ import annotations

from typing import Any

import pytest
from crm_push import crm_customers, make_http_spec, seed_customers, source_customers, wire_crm
from faultkit import track_watermark, watermark_moves, watermark_value
from helpers import execute, rows, sync
from http_helpers import FLOW, connect_crm, http_spec
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from syncgate.errors import RetriableError

pytestmark = pytest.mark.integration

TIMEOUT = 0.3  # the client's; a `slow` answer takes twice as long
FAULT = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["429", "500", "502", "503", "slow", "drop", "truncate"]),
        "count": st.integers(1, 3),
        "after": st.integers(0, 4),
    }
)
STORM = st.lists(FAULT, min_size=2, max_size=6)
# Few examples, no shrinking: each one is a whole sync (bounded wall time; the example is printed).
STORMY = settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def reset(dst: str, *schemas: str) -> None:
    """Each generated example starts on an empty target and state (the databases are the test's)."""
    execute(
        dst,
        *(f"DROP SCHEMA IF EXISTS {s} CASCADE" for s in ("syncgate", "syncgate_staging", *schemas)),
        "DROP TABLE IF EXISTS public.watermark_writes",
    )


def queue(crm: Any, storm: list[dict[str, Any]], path: str) -> None:
    """Queue the storm's faults; ``apply`` (an applied write whose answer is lost) where allowed."""
    for fault in storm:
        options: dict[str, Any] = {"retry_after": "0"} if fault["kind"] == "429" else {}
        if fault["kind"] == "slow":
            options = {"delay": 2 * TIMEOUT}
        if fault.get("apply") and fault["kind"] in ("500", "502", "503", "drop"):
            options["apply"] = True
        crm.admin.fault(fault["kind"], count=fault["count"], path=path, after=fault["after"], **options)


def target_customers(dst: str) -> list[tuple[Any, ...]]:
    return rows(dst, "SELECT id, name, email, tier FROM analytics.customers ORDER BY id")


def api_customers(crm: Any) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["name"], r["email"], r["tier"]) for r in crm.admin.records("customers"))


@STORMY
@given(storm=STORM)
# Always tried as well: every kind mid-pagination, within the retry policy; and five failures
# of one request in a row, one more than its four attempts.
@example(
    storm=[
        {"kind": "429", "count": 1, "after": 1},
        {"kind": "502", "count": 1, "after": 0},
        {"kind": "slow", "count": 1, "after": 1},
        {"kind": "truncate", "count": 1, "after": 0},
        {"kind": "drop", "count": 1, "after": 1},
    ]
)
@example(storm=[{"kind": "503", "count": 3, "after": 2}, {"kind": "500", "count": 2, "after": 0}])
def test_a_pull_through_a_storm_is_correct_or_fails_with_nothing_promoted(
    crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, storm: list[dict[str, Any]]
) -> None:
    dst = databases["dst"]
    connect_crm(monkeypatch, crm)
    crm.admin.reset()
    reset(dst, "analytics")
    spec = http_spec(
        "page",
        source__cursor_param=None,  # positional paging: the storm lands mid-pagination
        source__timeout=TIMEOUT,
        source__retry={"max_attempts": 4, "backoff_seconds": 0.01},
    )
    sync(spec)
    track_watermark(dst)
    before, before_rows = watermark_value(dst, FLOW), target_customers(dst)
    crm.admin.touch("customers", count=25)

    queue(crm, storm, "/v1/customers")
    try:
        sync(spec)
    except RetriableError:  # more faults in a row than the retry policy absorbs
        assert watermark_moves(dst, FLOW) == [] and target_customers(dst) == before_rows
        crm.admin.clear_faults()
        sync(spec)
    assert crm.admin.stats()["faults_fired"] > 0

    assert target_customers(dst) == api_customers(crm)
    ((total, keys),) = rows(dst, "SELECT count(*), count(DISTINCT id) FROM analytics.customers")
    assert total == keys
    after = watermark_value(dst, FLOW)
    assert watermark_moves(dst, FLOW) == [(before, after)]
    assert after == max(r["updated_at"] for r in crm.admin.records("customers"))


APPLIED = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["429", "500", "502", "503", "slow", "drop"]),
        "count": st.integers(1, 3),
        "after": st.integers(0, 6),
        "apply": st.booleans(),  # the write is applied, its answer lost
    }
)


@STORMY
@given(storm=st.lists(APPLIED, min_size=2, max_size=6))
# Always tried as well: writes applied whose answers are lost, within the retry policy and past it.
@example(
    storm=[
        {"kind": "500", "count": 2, "after": 3, "apply": True},
        {"kind": "429", "count": 1, "after": 0, "apply": False},
        {"kind": "drop", "count": 1, "after": 4, "apply": True},
    ]
)
@example(storm=[{"kind": "502", "count": 4, "after": 8, "apply": True}])
def test_a_push_through_a_storm_never_applies_a_record_twice(
    crm_empty: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch, storm: list[dict[str, Any]]
) -> None:
    src, dst = databases["src"], databases["dst"]
    crm_empty.admin.seed(customers=0, contacts=0)
    execute(src, "DROP TABLE IF EXISTS public.customers")
    reset(dst, "syncgate_mirror")
    wire_crm(monkeypatch, crm_empty)
    seed_customers(src, 30)
    track_watermark(dst)
    spec = make_http_spec(target__timeout=TIMEOUT, target__retry={"max_attempts": 4, "backoff_seconds": 0.01})

    queue(crm_empty, storm, "/v1/customers")
    try:
        sync(spec)
    except RetriableError:
        crm_empty.admin.clear_faults()
        sync(spec)  # the rerun completes the old batch under its own keys, then its own

    assert crm_customers(crm_empty) == source_customers(src)
    writes = crm_empty.admin.writes()
    assert crm_empty.admin.stats()["writes_applied"] == len(writes) == 30, "a record was applied twice"
    assert len({w["idempotency_key"] for w in writes}) == 30
    moves = watermark_moves(dst, "crm_push")
    assert len(moves) == 1 and moves[0][0] is None
    newest = rows(src, "SELECT max(updated_at) = %s::timestamptz FROM public.customers", (moves[0][1],))
    assert newest == [(True,)]
