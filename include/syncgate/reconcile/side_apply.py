"""Load, verify and promote of one side of a sync flow: its outgoing writes, gated, then applied.

- load stages the side's planned upserts (common field names and values) and deletes (match
  fields) in the state database;
- verify runs the GX checkpoint on exactly those tables and records a sealed verdict, as a
  one-way flow's verify does; a side whose writes fail is not applied and the run fails naming it;
- promote refuses a batch without a passing, unchanged verdict, writes the side through its
  connector (``RecordWriter``), then settles that side's records, ledger, pending marks and
  watermark in one state transaction.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from syncgate import landing, settings
from syncgate.batch import fence
from syncgate.batch.run import RunInfo
from syncgate.connectors.base import RecordResult, RecordWrite, RecordWriter
from syncgate.connectors.registry import target_for
from syncgate.db.connect import connect, sqlalchemy_url
from syncgate.db.identifiers import TableRef, ident_list
from syncgate.db.sql import compose
from syncgate.errors import DataQualityError, FatalError
from syncgate.pipeline.startup import import_libraries
from syncgate.quality import verdicts
from syncgate.quality.builtin import builtin_expectations, describe
from syncgate.quality.checkpoint import run_checkpoint
from syncgate.quality.pii import columns_of
from syncgate.reconcile import store
from syncgate.reconcile.merge import Origin, Outcome, SideView
from syncgate.reconcile.plan import Planned, settle_side
from syncgate.reconcile.records import SideMapping, read_lines
from syncgate.report.write import write_report_safely
from syncgate.spec.sync_model import SyncSpec
from syncgate.state import audit, target_owners
from syncgate.state.schema import STAGING_SCHEMA
from syncgate.state.watermarks import Watermark, write_watermark

log = logging.getLogger(__name__)

OP_COLUMN = "_syncgate_op"
KEY_COLUMN = "_syncgate_record"


def staged_names(spec: SyncSpec, side: str, run: RunInfo) -> tuple[TableRef, TableRef]:
    """The side's staged upserts and deletes (names kept within PostgreSQL's 63 bytes)."""
    base = f"{spec.side(side).view.id}__{run.key}"
    if len(base) > 54:
        base = f"sync_{hashlib.sha1(base.encode()).hexdigest()[:20]}"
    return TableRef(STAGING_SCHEMA, base), TableRef(STAGING_SCHEMA, f"{base}__del")


def load_side(
    spec: SyncSpec, side: str, run: RunInfo, transformed: dict[str, Any], plan: dict[str, Any]
) -> dict[str, Any]:
    """Stage the side's planned writes; return the staged batch (XCom)."""
    started = time.monotonic()
    fields = list(transformed["fields"])
    types = transformed["field_types"]
    upserts, deletes = staged_names(spec, side, run)
    match = spec.match_fields
    rows: list[list[Any]] = []
    gone: list[list[Any]] = []
    for entry in read_lines(plan["plan"]):
        write = entry["write"]
        if write is None:
            continue
        if write["op"] == "delete":
            values = entry["current"] or entry["known"] or {}
            gone.append([entry["key"], *(values.get(f) for f in match)])
        else:
            rows.append([write["op"], entry["key"], *(_staged(write["values"].get(f)) for f in fields)])
    with connect(spec.state_conn_id) as conn, conn.transaction():
        for table in (upserts, deletes, plan_table(upserts)):
            conn.execute(compose("DROP TABLE IF EXISTS {}", table.sql))
        field_defs = [(f, types.get(f, "text")) for f in fields]
        _create(conn, upserts, [(OP_COLUMN, "text"), (KEY_COLUMN, "text"), *field_defs])
        _create(conn, deletes, [(KEY_COLUMN, "text"), *[(f, types.get(f, "text")) for f in match]])
        _copy(conn, upserts, [OP_COLUMN, KEY_COLUMN, *fields], rows)
        _copy(conn, deletes, [KEY_COLUMN, *match], gone)
        # The plan's digest is staged and sealed with the writes: promote refuses a plan file
        # that changed after verify.
        _create(conn, plan_table(upserts), [("digest", "text")])
        _copy(conn, plan_table(upserts), ["digest"], [[_file_digest(plan["plan"])]])
    seconds = time.monotonic() - started
    return {
        "side": side,
        "batch_id": upserts.name,
        "staging_table": str(upserts),
        "deletes_table": str(deletes),
        "rows": len(rows),
        "deletes": len(gone),
        "seconds": seconds,
    }


def plan_table(upserts: TableRef) -> TableRef:
    """The staged digest of the plan file the staged writes came from."""
    return TableRef(upserts.schema, f"{upserts.name}__plan")


def _file_digest(url: str) -> str:
    return hashlib.sha256(landing.as_path(url).read_bytes()).hexdigest()


def _require_verified_plan(conn: Any, spec: SyncSpec, side: str, upserts: TableRef, url: str) -> None:
    row = conn.execute(compose("SELECT digest FROM {}", plan_table(upserts).sql)).fetchone()
    if row is None or row[0] != _file_digest(url):
        raise FatalError(
            f"side {side!r} of flow {spec.id!r}: the plan changed after the quality gate verified its "
            "writes; nothing was written: rerun the flow"
        )


def _staged(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, dict) else value


def _create(conn: Any, table: TableRef, columns: list[tuple[str, str]]) -> None:
    from psycopg import sql

    conn.execute(
        compose(
            "CREATE UNLOGGED TABLE {} ({}) WITH (autovacuum_enabled = false)",
            table.sql,
            sql.SQL(", ").join(compose("{} ", sql.Identifier(n)) + sql.SQL(t) for n, t in columns),
        )
    )


def _copy(conn: Any, table: TableRef, columns: list[str], rows: list[list[Any]]) -> None:
    if not rows:
        return
    with (
        conn.cursor() as cur,
        cur.copy(compose("COPY {} ({}) FROM STDIN", table.sql, ident_list(columns))) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def verify_side(spec: SyncSpec, side: str, run: RunInfo, staged: dict[str, Any]) -> dict[str, Any]:
    """The quality gate on the side's staged writes; raises ``DataQualityError`` naming the side."""
    startup = import_libraries("verify")
    started = time.monotonic()
    view = spec.side(side).view
    upserts, deletes = TableRef.parse(staged["staging_table"]), TableRef.parse(staged["deletes_table"])
    with connect(spec.state_conn_id) as conn:
        present = {c for c, _ in _columns(conn, upserts)}
    own = [e.model_dump() for e in spec.quality.expectations]
    # An expectation on a field this side does not hold has nothing to check here.
    applicable = [e for e in own if columns_of(e.get("kwargs") or {}) <= present]
    expectations = [*builtin_expectations(spec.match_fields, staged["rows"]), *applicable]
    with verdicts.sealed(spec.state_conn_id, [upserts, deletes, plan_table(upserts)]) as seal:
        result = run_checkpoint(
            flow_id=view.id,
            run_id=run.run_id,
            connection_url=sqlalchemy_url(spec.state_conn_id),
            table=upserts,
            expectations=expectations,
            result_format=spec.quality.result_format,
            sample_unexpected_values=spec.quality.sample_unexpected_values,
            docs_root=settings.reports_dir() / spec.id / "gx",
            pii_columns=spec.pii_columns,
        )
        seal.observed(result.results)
    failures = [describe(r) for r in result.failed]
    passed = not any(r.get("severity", "critical") == "critical" for r in result.failed)
    seconds = time.monotonic() - started
    with connect(spec.state_conn_id) as conn:
        verdicts.record(
            conn,
            view.id,
            run.run_id,
            staged["batch_id"],
            seal,
            passed=passed,
            reason=None if passed else "; ".join(failures),
        )
        if not passed:
            audit.update_run(
                conn, spec.id, run.run_id, status="rejected", quality_verdict="failed",
                quality_report=result.report, failed_expectations=result.failed,
                error=f"quality gate failed for side {side}: {'; '.join(failures)}",
            )  # fmt: skip
        conn.commit()
    if not passed:
        # The failure callback leaves a rejected run's report to verify, as for one-way flows.
        write_report_safely(spec, run.run_id, quality={**result.as_dict(), "failures": failures})
        raise DataQualityError(f"{spec.id} (side {side})", failures, result.report)
    return {
        **staged,
        "quality": {**result.as_dict(), "success": True},
        "verify_seconds": seconds,
        "verify_startup": startup,
    }


def _columns(conn: Any, table: TableRef) -> list[tuple[str, str]]:
    from syncgate.db.catalog import table_columns

    return table_columns(conn, table)


def promote_side(
    spec: SyncSpec,
    side: str,
    run: RunInfo,
    extracted: dict[str, Any],
    transformed: dict[str, Any],
    plan: dict[str, Any],
    verified: dict[str, Any],
) -> dict[str, Any]:
    """Apply the side's verified writes, then settle its records and watermark."""
    started = time.monotonic()
    view = spec.side(side).view
    target = target_for(view)
    if not isinstance(target, RecordWriter):
        raise FatalError(
            f"side {side!r} of flow {spec.id!r}: a {view.target.type} target cannot write single records"
        )
    upserts, deletes = TableRef.parse(verified["staging_table"]), TableRef.parse(verified["deletes_table"])
    batch_id = verified["batch_id"]
    # The side is written outside promote's transaction: its write lock keeps a newer plan from
    # landing between this one's fence check and its settle.
    with fence.exclusive_write(spec.state_conn_id, view.id):
        with connect(spec.state_conn_id) as conn, conn.transaction():
            store.lock_flow(conn, spec.id)
            # Each side is a target: owned by the side's own id (`<flow>__<side>`), like its watermark.
            target_owners.claim(conn, view, spec.state_conn_id)
            if _already_settled(conn, view.id, batch_id):
                log.info("Side %s of flow %s: batch %s was applied already", side, spec.id, batch_id)
                return {"side": side, "applied": 0, "skipped": 0}
            fence.require_newest(conn, plan["basis"], flow_id=spec.id)
            verdicts.require_passing(conn, view.id, batch_id, [upserts, deletes, plan_table(upserts)])
            _require_verified_plan(conn, spec, side, upserts, plan["plan"])
            entries = list(read_lines(plan["plan"]))
            keys = [e["key"] for e in entries]
            known_keys = store.side_keys(conn, spec.id, side, keys)
        mapping = SideMapping(spec, side, transformed["columns"], transformed.get("column_types"))
        writes, written_entries = _writes(mapping, entries, known_keys)
        results = target.write_records(view, writes, read_until=extracted["read_until"])
        outcome_of = dict(zip((e["key"] for e in written_entries), results, strict=True))
        with connect(spec.state_conn_id) as conn, conn.transaction():
            store.lock_flow(conn, spec.id)
            states = store.load_states(conn, spec.id, keys, spec.side_names)
            settled = {}
            new_keys: dict[str, Any] = {}
            applied_keys = []
            for entry in entries:
                result = outcome_of.get(entry["key"])
                applied = result.applied if result is not None else True
                state = settle_side(
                    states[entry["key"]], side, _planned(entry, side, mapping), applied=applied
                )
                # The ledger keeps what syncgate sent, not what the side answered: a side that stores
                # less (precision, case) then reads back as its own edit once, instead of being
                # rewritten on every run; an answer carrying someone's concurrent edit is no echo.
                settled[entry["key"]] = state
                new_keys[entry["key"]] = (result.key if result is not None else None) or entry["side_key"]
                if applied:
                    applied_keys.append(entry["key"])
            store.save(conn, spec.id, side, run.run_id, settled, new_keys)
            fence.record_promoted(conn, plan["basis"])
            store.clear_pending(conn, spec.id, side, applied_keys)
            _settle_watermark(conn, view, extracted, batch_id)
            counts = _counts(written_entries, results)
            _record(conn, spec, run, side, counts, time.monotonic() - started)
            for table in (upserts, deletes, plan_table(upserts)):
                conn.execute(compose("DROP TABLE IF EXISTS {}", table.sql))
    landing.forget_batch(view.id, extracted["batch_id"])
    landing.forget_batch(view.id, f"plan-{run.key}")
    log.info("Side %s of flow %s: %s", side, spec.id, counts)
    # Each side's promote rewrites the run's report; the last one's holds every side's counts.
    write_report_safely(spec, run.run_id)
    return {"side": side, **counts}


def _already_settled(conn: Any, view_id: str, batch_id: str) -> bool:
    row = conn.execute("SELECT batch_id FROM syncgate.watermarks WHERE flow_id = %s", (view_id,)).fetchone()
    return row is not None and row[0] == batch_id


def _writes(
    mapping: SideMapping, entries: list[dict[str, Any]], known_keys: dict[str, Any]
) -> tuple[list[RecordWrite], list[dict[str, Any]]]:
    writes: list[RecordWrite] = []
    written: list[dict[str, Any]] = []
    for entry in entries:
        write = entry["write"]
        if write is None:
            continue
        key = entry["side_key"] or known_keys.get(entry["key"])
        values = mapping.to_side(write["values"])
        if write["op"] == "insert" and key is None:
            key = mapping.key_from_common(write["values"])
        if write["op"] == "delete" and key is None:
            continue  # the side never held it under a key syncgate knows: nothing to delete
        changed = tuple(mapping.columns[f] for f in write["changed"] if f in mapping.columns)
        match = None
        if write["op"] == "insert" and key is None:
            match = mapping.to_side({f: write["values"].get(f) for f in mapping.spec.match_fields})
        writes.append(
            RecordWrite(write["op"], key, {} if write["op"] == "delete" else values, changed, match)
        )
        written.append(entry)
    return writes, written


def _planned(entry: dict[str, Any], side: str, mapping: SideMapping) -> Planned:
    origins = {f: Origin(o[0], o[1]) for f, o in (entry["origins"] or {}).items()}
    outcome = Outcome(entry["values"], origins, {}, [], entry["parked"])
    view = SideView(mapping.fields, entry["known"], entry["current"], entry["at"])
    return Planned(entry["key"], outcome, {side: view})


def _settle_watermark(conn: Any, view: Any, extracted: dict[str, Any], batch_id: str) -> None:
    boundary = landing.read_json(extracted["boundary"]) if extracted["boundary"] else None
    mark = (
        Watermark(boundary["value"], boundary["keys"])
        if boundary
        else Watermark(extracted["watermark_before"], [])
    )
    if boundary is None and extracted["watermark_before"] is not None:
        row = conn.execute(
            "SELECT boundary_keys FROM syncgate.watermarks WHERE flow_id = %s", (view.id,)
        ).fetchone()
        mark = Watermark(extracted["watermark_before"], list(row[0] or []) if row else [])
    write_watermark(conn, view.id, str(view.source.cursor or ""), mark, batch_id)


def _counts(entries: list[dict[str, Any]], results: list[RecordResult]) -> dict[str, int]:
    counts = {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0, "rows_skipped": 0}
    for entry, result in zip(entries, results, strict=True):
        if not result.applied:
            counts["rows_skipped"] += 1
            continue
        op = entry["write"]["op"]
        counts[{"insert": "rows_inserted", "update": "rows_updated", "delete": "rows_deleted"}[op]] += 1
    return counts


def _record(
    conn: Any, spec: SyncSpec, run: RunInfo, side: str, counts: dict[str, int], seconds: float
) -> None:
    """Add the side's counts to the run's audit row; the last side to settle closes it."""
    conn.execute(
        "UPDATE syncgate.sync_runs SET rows_inserted = COALESCE(rows_inserted, 0) + %s, "
        "rows_updated = COALESCE(rows_updated, 0) + %s, rows_deleted = COALESCE(rows_deleted, 0) + %s, "
        "promote_seconds = COALESCE(promote_seconds, 0) + %s WHERE flow_id = %s AND run_id = %s",
        (
            counts["rows_inserted"],
            counts["rows_updated"],
            counts["rows_deleted"],
            seconds,
            spec.id,
            run.run_id,
        ),
    )
    views = [spec.side(s).view.id for s in spec.side_names]
    batches = [staged_names(spec, s, run)[0].name for s in spec.side_names]
    settled = conn.execute(
        "SELECT count(*) FROM syncgate.watermarks WHERE flow_id = ANY(%s) AND batch_id = ANY(%s)",
        (views, batches),
    ).fetchone()[0]
    if settled == len(views):  # every side dropped its staging tables
        audit.update_run(conn, spec.id, run.run_id, status="success", staging_table=None)
    log.debug("Side %s settled (%d of %d sides)", side, settled, len(views))
