"""kill -9 inside a two-way run's tasks: the next run finds the run dead, removes what it left
(per side staging, landed files, plan files) and syncs both sides correctly.

The run's tasks run in a child process in DAG order, each under the run's heartbeat
(``killable_sync_stage.py``), and it hangs at its point: mid-read of a side, inside reconcile's
transaction, mid-load of the second side, under the first side's gate, after the first side
was written but before its state settled, and between the two sides' promotes. SIGKILL, then
one new run in-process, then a quiet run that must write nothing.
"""

from __future__ import annotations

import json
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from faultkit import LEASE_SECONDS, kill, landed_files, staging_tables, start_hanging_child, wait_for_expiry
from helpers import execute, new_run, rows

from syncgate import landing
from syncgate.batch.run import RunInfo
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
fields: {id: {}, name: {}, tier: {}}
match: [id]
conflicts: {default: newest_wins, tie_break: [erp, crm]}
"""

TABLE = """
CREATE TABLE public.people (id int PRIMARY KEY, name text, tier text,
                            updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.people FOR EACH ROW EXECUTE FUNCTION stamp();
"""

POINTS = ("extract", "reconcile", "load", "verify", "promote", "between_promotes")


def whole_run(spec: SyncSpec, run: RunInfo | None = None) -> RunInfo:
    """One run of the flow in-process, task by task in DAG order."""
    run = run or new_run(spec)
    return whole_run_from(spec, run, {s: extract_side(spec, s, run) for s in spec.side_names})


def whole_run_from(spec: SyncSpec, run: RunInfo, extracted: dict[str, Any]) -> RunInfo:
    """The run's tasks after its side extracts."""
    sides = spec.side_names
    transformed = {s: transform_side(spec, s, run, extracted) for s in sides}
    plan = reconcile(spec, run, transformed)
    for s in sides:
        staged = load_side(spec, s, run, transformed[s], plan["sides"][s])
        verified = verify_side(spec, s, run, staged)
        promote_side(spec, s, run, extracted[s], transformed[s], plan["sides"][s], verified)
    return run


def start_killable_sync(tmp_path: Path, run: RunInfo, point: str) -> subprocess.Popen[bytes]:
    marker, job = tmp_path / f"hanging-{point}", tmp_path / f"job-{point}.json"
    job.write_text(json.dumps({"spec": SPEC, "run_id": run.run_id, "point": point, "marker": str(marker)}))
    return start_hanging_child("killable_sync_stage.py", job, marker, point, timeout=180)


def people(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, name, tier FROM public.people ORDER BY id")


def checksum(url: str) -> str:
    return rows(
        url,
        "SELECT md5(coalesce(string_agg(concat_ws('|', id, name, tier), ',' ORDER BY id), '')) FROM public.people",
    )[0][0]


def private(files: list[Path]) -> bool:
    """Landed files readable by their owner only, in folders only their owner may enter."""
    return all(
        stat.S_IMODE(f.stat().st_mode) == 0o600 and stat.S_IMODE(f.parent.stat().st_mode) == 0o700
        for f in files
    )


def stamps(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT id, updated_at FROM public.people ORDER BY id")


@pytest.mark.parametrize("point", POINTS)
def test_a_two_way_run_killed_in_any_task_is_repaired_by_the_next_run(
    databases: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    erp, crm = databases["src"], databases["dst"]
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", LEASE_SECONDS)
    execute(
        erp,
        TABLE,
        "INSERT INTO public.people (id, name, tier) SELECT g, 'name ' || g, 'bronze' FROM generate_series(1, 300) g",
    )
    execute(crm, TABLE)
    spec = SyncSpec.model_validate(yaml.safe_load(SPEC))
    whole_run(spec)
    assert checksum(erp) == checksum(crm)
    # Edits on both sides: one conflict (name of 1, the CRM's edit is the newer), creates, deletes.
    execute(
        erp,
        "UPDATE public.people SET name = 'Ada (erp)' WHERE id = 1",
        "UPDATE public.people SET tier = 'gold' WHERE id % 10 = 0",
        "INSERT INTO public.people (id, name, tier) SELECT g, 'new ' || g, 'silver' FROM generate_series(1001, 1040) g",
        "DELETE FROM public.people WHERE id = 9",
    )
    execute(
        crm,
        "UPDATE public.people SET name = 'Ada (crm)' WHERE id = 1",
        "UPDATE public.people SET name = name || ' (crm)' WHERE id % 7 = 0",
        "INSERT INTO public.people (id, name, tier) VALUES (2001, 'from crm', 'gold')",
        "DELETE FROM public.people WHERE id = 5",
    )

    doomed = new_run(spec)
    process = start_killable_sync(tmp_path, doomed, point)
    try:
        if point == "extract":
            assert landed_files(), "the killed extract had landed nothing yet"
        assert private(landed_files())
    finally:
        kill(process)
    wait_for_expiry(erp, doomed)

    whole_run(spec)

    runs = rows(erp, "SELECT run_id, status, error FROM syncgate.sync_runs ORDER BY started_at")
    assert rows(erp, "SELECT count(*) FROM syncgate.sync_runs WHERE status = 'running'") == [(0,)], runs
    killed = [r for r in runs if r[0] == doomed.run_id]
    assert killed and killed[0][1] == "failed" and "abandoned" in killed[0][2], runs
    assert staging_tables(erp) == [], "staging tables left over"
    assert landed_files() == [], "landed files left over"
    assert checksum(erp) == checksum(crm), (people(erp), people(crm))
    names = dict((i, n) for i, n, _ in people(erp))
    assert names[1] == "Ada (crm)" and names[14] == "name 14 (crm)" and names[1001] == "new 1001"
    assert 5 not in names and 9 not in names and 2001 in names
    assert len(names) == 300 - 2 + 40 + 1
    logged = rows(
        erp,
        "SELECT record_key, field, count(*) FROM syncgate.sync_conflicts WHERE flow_id = %s "
        "GROUP BY record_key, field",
        (spec.id,),
    )
    assert [(f, n) for _, f, n in logged] == [("name", 1)], logged
    assert rows(erp, "SELECT count(*) FROM syncgate.sync_pending WHERE flow_id = %s", (spec.id,)) == [(0,)]

    # The ledger and bases agree with both sides: a run without edits writes nothing anywhere.
    before = (stamps(erp), stamps(crm))
    whole_run(spec)
    assert (stamps(erp), stamps(crm)) == before, "a quiet run after the repair wrote to a side"
    assert len(rows(erp, "SELECT 1 FROM syncgate.sync_conflicts WHERE flow_id = %s", (spec.id,))) == 1
    assert landed_files() == [] and staging_tables(erp) == []


def test_the_side_extracts_of_one_run_at_once_leave_each_other_s_batches(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run's side extracts run in parallel: each reaps and sweeps before it lands, while the
    other may be landing. Neither reaps their run, nor removes the other's batch."""
    erp, crm = databases["src"], databases["dst"]
    monkeypatch.setenv("SYNCGATE_RUN_LEASE_SECONDS", "0.2")
    execute(erp, TABLE, "INSERT INTO public.people (id, name, tier) VALUES (1, 'Ada', 'gold')")
    execute(crm, TABLE, "INSERT INTO public.people (id, name, tier) VALUES (2, 'Brian', 'silver')")
    spec = SyncSpec.model_validate(yaml.safe_load(SPEC))
    run = new_run(spec)
    landed, go_on = threading.Event(), threading.Event()
    write = landing.ParquetSink.write

    def write_then_wait(self: Any, table: Any) -> None:
        write(self, table)
        if threading.current_thread().name == "extract_erp":
            landed.set()
            assert go_on.wait(60)

    monkeypatch.setattr(landing.ParquetSink, "write", write_then_wait)
    extracted: dict[str, Any] = {}
    erp_extract = threading.Thread(
        target=lambda: extracted.update(erp=extract_side(spec, "erp", run)), name="extract_erp"
    )
    erp_extract.start()
    assert landed.wait(60), "the erp side landed nothing"
    time.sleep(0.5)  # the run's lease has expired: no task of it renews it
    extracted["crm"] = extract_side(spec, "crm", run)
    go_on.set()
    erp_extract.join(60)
    assert set(extracted) == {"erp", "crm"}
    assert rows(erp, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,)) == [
        ("running",)
    ]
    whole_run_from(spec, run, extracted)
    assert people(erp) == people(crm) == [(1, "Ada", "gold"), (2, "Brian", "silver")]
    assert rows(erp, "SELECT status FROM syncgate.sync_runs WHERE run_id = %s", (run.run_id,)) == [
        ("success",)
    ]
    assert landed_files() == [] and staging_tables(erp) == []
