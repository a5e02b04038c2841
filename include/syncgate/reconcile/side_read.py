"""Extract and transform of one side of a sync flow: its changes, as common records.

Extract reads the side through its connector's ``Source`` exactly as a one-way flow would, from
the side's own watermark (kept under ``<flow id>__<side>``); it first puts the run on record and
removes what the flow's earlier runs left (``leftovers.py``). Transform maps what landed to the
common record, turns soft and hard deletes into tombstones and lands the side's changes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from syncgate import landing
from syncgate.batch import fence
from syncgate.batch.run import RunInfo
from syncgate.connectors.base import ReadRequest
from syncgate.connectors.registry import source_for
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.pipeline.startup import import_libraries
from syncgate.reconcile import store
from syncgate.reconcile.leftovers import clean_side_leftovers
from syncgate.reconcile.records import SideMapping, read_rows, write_lines
from syncgate.spec.sync_model import SyncSpec
from syncgate.state import audit, leases
from syncgate.state.schema import ensure_state_schema
from syncgate.state.watermarks import read_watermark

log = logging.getLogger(__name__)


def side_run(run: RunInfo, side_flow_id: str) -> RunInfo:
    """The run as the side's one-way view sees it (its landing folder, its staging names)."""
    return RunInfo(side_flow_id, run.run_id, run.run_type, run.interval_start, run.interval_end)


def extract_side(spec: SyncSpec, side: str, run: RunInfo) -> dict[str, Any]:
    """Land the side's changes since its watermark; return what transform needs (XCom)."""
    view = spec.side(side).view
    source = source_for(view)
    import_libraries("extract", extra=source.libraries)
    started = time.monotonic()
    with connect(spec.state_conn_id) as state:
        ensure_state_schema(state)
        # The run is on record, holding a lease, before the side lands anything: if it dies from
        # here on, the flow's next run marks it failed and removes what it left (leftovers.py).
        # The run's other side extracts, at the same time, write the same row.
        audit.start_run(
            state, spec.id, run.run_id,
            run_type=run.run_type, triggered_by=run.triggered_by, trigger_events=run.trigger_events,
            batch_id=run.key,
        )  # fmt: skip
        leases.renew(state, spec.id, run.run_id)
        clean_side_leftovers(state, spec, side, run)
        mark = read_watermark(state, view.id)
        state.commit()
    side_run_info = side_run(run, view.id)
    # A sync flow re-reads only changes; a backfill's slice is no different from a poll here.
    window = source.plan_window(view, side_run_info, mark)
    incremental = window.lower is not None
    with_key_set = view.source.deletes == "hard" and view.source.cursor is not None and incremental
    with fence.serialised_read(spec.state_conn_id, view.id) as sequence:
        read = source.read(ReadRequest(view, side_run_info, window, mark, {}, with_key_set))
    if read.record is not None:
        with connect(spec.state_conn_id) as state:
            failure = read.record(state)
            state.commit()
        if failure:
            raise FatalError(f"side {side!r} of flow {spec.id!r}: {failure}")
    if read.finish is not None:
        read.finish()
    boundary = None
    if window.moves_watermark and read.next_watermark is not None:
        path = landing.batch_dir(view.id, read.batch_id) / "boundary.json"
        landing.write_text(path, json.dumps(read.next_watermark))
        boundary = str(path)
    seconds = time.monotonic() - started
    log.info("Side %s of flow %s: %d changed rows landed in %.2fs", side, spec.id, read.rows, seconds)
    return {
        "side": side,
        "batch_id": read.batch_id,
        "files": read.files,
        "columns": [list(c) for c in read.columns],
        "rows": read.rows,
        "incremental": incremental,
        "watermark_before": mark.value,
        "watermark_batch_before": mark.batch_id,
        "sequence": sequence,
        "boundary": boundary,
        "read_until": str(read.next_watermark["value"]) if read.next_watermark else mark.value,
        "seconds": seconds,
    }


def common_columns(spec: SyncSpec, extracts: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per side: common field -> the side's column, from the columns every side landed."""
    names = {side: [c for c, _ in extracts[side]["columns"]] for side in spec.side_names}
    shared = set.intersection(*(set(v) for v in names.values())) if names else set()
    if spec.fields is None:
        return {side: spec.field_columns(side, sorted(shared)) for side in spec.side_names}
    for side in spec.side_names:
        if not extracts[side]["rows"]:
            # A side without a catalog (an API) shows its columns only through records: one that
            # has none yet holds the fields the spec declares for it, so it can receive them.
            declared = (spec.column(side, f) for f in spec.fields)
            names[side] = sorted({*names[side], *(c for c in declared if c is not None)})
    return {side: spec.field_columns(side, names[side]) for side in spec.side_names}


def transform_side(
    spec: SyncSpec, side: str, run: RunInfo, extracts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Map the side's landed rows to common records and land them as the side's changes."""
    started = time.monotonic()
    extracted = extracts[side]
    types = {c: t for c, t in extracted["columns"]}
    mapping = SideMapping(spec, side, common_columns(spec, extracts)[side], types)
    missing = [f for f in spec.match_fields if f not in mapping.columns]
    if missing and extracted["rows"]:
        raise FatalError(
            f"side {side!r} of flow {spec.id!r} landed no column for match field(s) {', '.join(missing)}"
        )
    field_types = {f: types[c] for f, c in mapping.columns.items() if c in types}
    view_id = spec.side(side).view.id
    seen: dict[str, dict[str, Any]] = {}
    for row in read_rows(extracted["files"]["data"]) if extracted["rows"] else ():
        values = mapping.to_common(row)
        key = mapping.record_key(values)
        if key in seen:
            # Named by the match fields only: their values may be pii.
            raise FatalError(
                f"side {side!r} of flow {spec.id!r}: two rows match the same record on "
                f"{', '.join(spec.match_fields)}; the match fields must identify one record per side"
            )
        deleted = mapping.is_deleted(row)
        seen[key] = {
            "key": key,
            "values": None if deleted else values,
            "at": mapping.change_time(row),
            "side_key": mapping.side_key(row),
        }
    tombstones = _hard_deletes(spec, side, mapping, extracted, seen)
    tombstones += _rekeyed(spec, side, mapping, seen)
    url, count = write_lines(view_id, extracted["batch_id"], "changes", [*seen.values(), *tombstones])
    seconds = time.monotonic() - started
    log.info(
        "Side %s of flow %s: %d changes (%d hard deletes) in %.2fs",
        side,
        spec.id,
        count,
        len(tombstones),
        seconds,
    )
    return {
        "side": side,
        "changes": url,
        "count": count,
        "fields": sorted(mapping.fields),
        "columns": mapping.columns,
        "field_types": field_types,
        "column_types": types,
        "mints_keys": mapping.mints_keys,
        "sequence": extracted["sequence"],
        "seconds": seconds,
    }


def _rekeyed(
    spec: SyncSpec, side: str, mapping: SideMapping, seen: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A row of a side that mints its own keys whose match values changed is another record
    now: the record it held before is gone from that side (a delete, then a create)."""
    if not mapping.mints_keys or not seen:
        return []
    with connect(spec.state_conn_id) as state:
        before = store.records_of_side_keys(
            state, spec.id, side, [item["side_key"] for item in seen.values()]
        )
    gone = []
    for key, item in seen.items():
        old = before.get(json.dumps(item["side_key"], sort_keys=True))
        if old is not None and old != key and old not in seen:
            gone.append({"key": old, "values": None, "at": item["at"], "side_key": item["side_key"]})
    return gone


def _hard_deletes(
    spec: SyncSpec,
    side: str,
    mapping: SideMapping,
    extracted: dict[str, Any],
    seen: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Records the side held at its last sync whose key it no longer has."""
    source = spec.side(side).source
    if source.deletes != "hard":
        return []
    if "keys" in extracted["files"]:
        present = {
            json.dumps(mapping.side_key(r), sort_keys=True) for r in read_rows(extracted["files"]["keys"])
        }
    elif not extracted["incremental"]:  # a whole read is its own key set
        present = {
            json.dumps(item["side_key"], sort_keys=True)
            for item in seen.values()
            if item["values"] is not None
        }
    else:
        return []
    with connect(spec.state_conn_id) as state:
        held = store.held_keys(state, spec.id, side)
    return [
        {"key": key, "values": None, "at": None, "side_key": side_key}
        for key, side_key in held
        if key not in seen and json.dumps(side_key, sort_keys=True) not in present
    ]
