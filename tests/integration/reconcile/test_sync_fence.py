"""Two runs of a two-way flow overlap: the older run's plan never lands after the newer run's.

The stages run in-process, in the order Airflow would run them if a second run were started by
hand while the first waited in its gate.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from helpers import execute, new_run, rows

from syncgate.errors import ConcurrentRunError
from syncgate.reconcile.decide import reconcile
from syncgate.reconcile.side_apply import load_side, promote_side, verify_side
from syncgate.reconcile.side_read import extract_side, transform_side
from syncgate.spec.sync_model import SyncSpec

pytestmark = pytest.mark.integration

SPEC = """
id: people_two_way
mode: two_way
retries: 0
sides:
  erp: {type: postgres, conn_id: src_db, table: public.people, primary_key: [id], cursor: updated_at, deletes: hard}
  crm: {type: postgres, conn_id: dst_db, table: public.people, primary_key: [id], cursor: updated_at, deletes: hard}
fields: {id: {}, name: {}}
match: [id]
conflicts: {default: newest_wins, tie_break: [erp, crm]}
"""

TABLE = """
CREATE TABLE public.people (id int PRIMARY KEY, name text,
                            updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.people FOR EACH ROW EXECUTE FUNCTION stamp();
"""


class SyncRun:
    """One run of the flow, advanced stage by stage like its DAG's tasks."""

    def __init__(self, spec: SyncSpec) -> None:
        self.spec, self.run = spec, new_run(spec)
        self.extracted: dict[str, Any] = {}
        self.transformed: dict[str, Any] = {}
        self.plan: dict[str, Any] = {}
        self.verified: dict[str, Any] = {}

    def read_and_plan(self) -> None:
        sides = self.spec.side_names
        self.extracted = {s: extract_side(self.spec, s, self.run) for s in sides}
        self.transformed = {s: transform_side(self.spec, s, self.run, self.extracted) for s in sides}
        self.plan = reconcile(self.spec, self.run, self.transformed)
        for side in sides:
            staged = load_side(self.spec, side, self.run, self.transformed[side], self.plan["sides"][side])
            self.verified[side] = verify_side(self.spec, side, self.run, staged)

    def promote(self, side: str) -> dict[str, Any]:
        return promote_side(
            self.spec,
            side,
            self.run,
            self.extracted[side],
            self.transformed[side],
            self.plan["sides"][side],
            self.verified[side],
        )

    def whole(self) -> None:
        self.read_and_plan()
        for side in self.spec.side_names:
            self.promote(side)


def names(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, name FROM public.people ORDER BY id")


def test_an_overtaken_sync_run_promotes_no_side(databases: dict[str, str]) -> None:
    erp, crm = databases["src"], databases["dst"]
    execute(erp, TABLE, "INSERT INTO public.people (id, name) VALUES (1, 'Ada'), (2, 'Brian')")
    execute(crm, TABLE)
    spec = SyncSpec.model_validate(yaml.safe_load(SPEC))
    SyncRun(spec).whole()
    assert names(crm) == [(1, "Ada"), (2, "Brian")]

    older = SyncRun(spec)
    execute(erp, "UPDATE public.people SET name = 'Ada (old plan)' WHERE id = 1")
    older.read_and_plan()  # plans to send 'Ada (old plan)' to the CRM, then waits
    execute(erp, "UPDATE public.people SET name = 'Ada Lovelace' WHERE id = 1")
    execute(crm, "DELETE FROM public.people WHERE id = 2")
    SyncRun(spec).whole()
    assert names(crm) == [(1, "Ada Lovelace")]
    assert names(erp) == [(1, "Ada Lovelace")]

    for side in spec.side_names:
        with pytest.raises(ConcurrentRunError, match="read before a newer one"):
            older.promote(side)
    assert names(crm) == names(erp) == [(1, "Ada Lovelace")]

    SyncRun(spec).whole()  # and the flow goes on
    assert names(crm) == names(erp) == [(1, "Ada Lovelace")]


def test_an_overtaken_plan_does_not_move_the_merge_bases(databases: dict[str, str]) -> None:
    """Reconcile commits the merge bases of what it read: an older read must not commit them
    after a newer run has promoted."""
    erp, crm = databases["src"], databases["dst"]
    execute(erp, TABLE, "INSERT INTO public.people (id, name) VALUES (1, 'Ada')")
    execute(crm, TABLE)
    spec = SyncSpec.model_validate(yaml.safe_load(SPEC))
    SyncRun(spec).whole()
    older = SyncRun(spec)
    execute(erp, "UPDATE public.people SET name = 'Ada (old)' WHERE id = 1")
    sides = spec.side_names
    older.extracted = {s: extract_side(spec, s, older.run) for s in sides}
    older.transformed = {s: transform_side(spec, s, older.run, older.extracted) for s in sides}
    execute(erp, "UPDATE public.people SET name = 'Ada (new)' WHERE id = 1")
    SyncRun(spec).whole()
    with pytest.raises(ConcurrentRunError, match="read before a newer one"):
        reconcile(spec, older.run, older.transformed)
    merged = rows(erp, "SELECT merged->>'name' FROM syncgate.sync_records WHERE flow_id = %s", (spec.id,))
    assert merged == [("Ada (new)",)]
    assert names(crm) == [(1, "Ada (new)")]
