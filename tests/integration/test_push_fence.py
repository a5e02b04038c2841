"""HTTP pushes are fenced from the moment they plan: an older batch never reaches the API after a
newer one (issue 13 item 4), whether the newer one promoted or only began pushing and died.

A run started by hand next to the scheduled one: both read (older #n, newer #n+1), the newer
pushes first. A push that dies midway leaves its plan behind ('pushing'); the next push
completes it first. Neither that completion nor the older batch's own push may send the older
values over the newer ones. Real CRM on loopback, state in real PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from crm_push import crm_customers, source_customers
from helpers import audit, execute, rows, sync
from push_fence_kit import CHUNK, CUSTOMERS, names, push_dies_midway, synced_with_two_batches

from syncgate.pipeline.promote import promote

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cursor", ["updated_at", None], ids=["cursor", "no-cursor"])
def test_an_older_batch_is_not_pushed_over_a_newer_one_whose_push_died(
    databases: dict[str, str], crm_empty: Any, monkeypatch: pytest.MonkeyPatch, cursor: str | None
) -> None:
    """The newer batch plans and dies midway; the older one's promote completes it (its own keys)
    and must then end 'superseded', not plan against the mirror and PATCH the older names back
    (reported as success on the reviewed code)."""
    src, dst = databases["src"], databases["dst"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(
        src, monkeypatch, source__cursor=cursor
    )

    push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    promote(spec, older_run, older)

    assert names(crm_empty) == {"Newer"}, "the older batch's values reached the API after the newer ones"
    row = audit(dst, older_run.run_id, spec.id)
    assert row["status"] == "superseded" and "newest pushing" in row["error"], row
    # 12 creates, then the newer batch's 12 updates, each applied once; no older update after them.
    assert crm_empty.admin.stats()["writes_applied"] == 2 * CUSTOMERS
    # The newer run's retry and the next run change nothing more: the API equals the source.
    promote(spec, newer_run, newer)
    sync(spec)
    assert crm_customers(crm_empty) == source_customers(src)
    assert rows(dst, "SELECT DISTINCT status FROM syncgate.push_batches") == [("finished",)]


@pytest.mark.parametrize(
    ("newer_outcome", "retry_first"),
    [("promoted", True), ("promoted", False), ("died", True)],
    ids=["newer-promoted-then-retry", "newer-promoted-then-next-run", "newer-died-then-retry"],
)
def test_an_abandoned_older_push_never_sends_after_a_newer_one(
    databases: dict[str, str],
    crm_empty: Any,
    monkeypatch: pytest.MonkeyPatch,
    newer_outcome: str,
    retry_first: bool,
) -> None:
    """The older batch plans and dies midway, then a newer batch reaches the API without completing
    it. Today only the per-flow push lock and the order of a push's steps keep that from
    happening; the older plan is hidden from the newer push here so that the fence itself is
    checked (defence in depth). Neither the older run's own retry nor the next run's completion
    may send its remaining changes; those it had confirmed stay in the mirror and its audit row."""
    src, dst = databases["src"], databases["dst"]
    spec, (older_run, older), (newer_run, newer) = synced_with_two_batches(src, monkeypatch)

    push_dies_midway(spec, older_run, older, crm_empty, monkeypatch)
    hide = "UPDATE syncgate.push_batches SET status = %s WHERE batch_id = %s"
    execute(dst, hide.replace("%s", "'finished'", 1).replace("%s", f"'{older.batch_id}'"))
    if newer_outcome == "promoted":
        promote(spec, newer_run, newer)
    else:
        push_dies_midway(spec, newer_run, newer, crm_empty, monkeypatch)
    execute(dst, hide.replace("%s", "'pushing'", 1).replace("%s", f"'{older.batch_id}'"))
    applied = crm_empty.admin.stats()["writes_applied"]

    if retry_first:  # the older run's task retry, then the next run
        promote(spec, older_run, older)
        sync(spec)
    else:  # the next run completes abandoned pushes; the older run's retry comes late
        sync(spec)
        promote(spec, older_run, older)

    # Nothing of the older batch is applied; only what a dead newer push left unsent (its first
    # chunk was confirmed, the change whose answers were lost is replayed by its key).
    unsent = 0 if newer_outcome == "promoted" else CUSTOMERS - CHUNK - 1
    assert crm_empty.admin.stats()["writes_applied"] - applied == unsent

    assert names(crm_empty) == {"Newer"}, "the older batch's remaining changes were sent after the newer ones"
    row = audit(dst, older_run.run_id, spec.id)
    assert row["status"] == "superseded", row
    # Its confirmed chunk is kept, plus what it sent completing the dead newer push (the API applied it).
    carried = 0 if newer_outcome == "promoted" else CUSTOMERS - CHUNK
    assert (row["rows_updated"], row["rows_pushed"]) == (CHUNK + carried, CHUNK + carried)
    assert rows(dst, "SELECT status FROM syncgate.push_batches WHERE batch_id = %s", (older.batch_id,)) == [
        ("superseded",)
    ]
    assert crm_customers(crm_empty) == source_customers(src)
