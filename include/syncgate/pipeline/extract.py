"""Extract: the source lands the run's window as Parquet; the run's start is recorded.

The source (``syncgate.connectors``) decides how to read; this stage reads the committed
watermark, asks the source for the window, records the batch in the audit trail and hands
the ``Batch`` on. Nothing here moves the watermark: promote does, with the data.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch import fence
from syncgate.batch.contract import Batch, BatchWindow
from syncgate.batch.run import RunInfo
from syncgate.connectors.base import ReadRequest, SourceRead
from syncgate.connectors.registry import source_for, target_for
from syncgate.db.column_types import column_type_problems
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.hashing import unhashed_values
from syncgate.pipeline.leftovers import clean_leftovers
from syncgate.pipeline.startup import import_libraries
from syncgate.pipeline.transform import output_columns
from syncgate.spec.model import FlowSpec
from syncgate.state import audit, leases
from syncgate.state.schema import ensure_state_schema
from syncgate.state.watermarks import read_watermark

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


def extract(spec: FlowSpec, run: RunInfo) -> Batch:
    """Land the run's window and return the batch."""
    source, target = source_for(spec), target_for(spec)
    startup = import_libraries("extract", extra=source.libraries)
    started = time.monotonic()
    with connect(spec.state_conn_id) as state:
        ensure_state_schema(state)
        # The run is on record (and holds a lease) before it lands anything: if it dies from
        # here on, the flow's next run finds it, marks it failed and removes what it landed.
        audit.start_run(
            state, spec.id, run.run_id,
            run_type=run.run_type, triggered_by=run.triggered_by, trigger_events=run.trigger_events,
        )  # fmt: skip
        leases.renew(state, spec.id, run.run_id)
        clean_leftovers(state, spec.id, run.run_id, run.key)
        mark = read_watermark(state, spec.id)
        target_columns = target.column_types(state, spec)
        state.commit()
    window = source.plan_window(spec, run, mark)
    # Hard deletes compare the target with the source's whole key set; without a cursor every
    # read is whole already, and a backfill's slice proves nothing about the rest.
    with_key_set = spec.source.deletes == "hard" and spec.source.cursor is not None and not run.is_backfill
    with fence.serialised_read(spec.state_conn_id, spec.id) as sequence:
        read = source.read(
            ReadRequest(
                flow=spec,
                run=run,
                window=window,
                mark=mark,
                target_columns=target_columns,
                with_key_set=with_key_set,
            )
        )
    if (
        with_key_set and window.lower is not None and "keys" not in read.files
    ):  # a whole read is its own key set
        landing.remove_batch(spec.id, read.batch_id)
        raise FatalError(
            f"flow {spec.id!r}: the {spec.source.type} source landed no key set although `deletes: hard` "
            "needs one to find deleted rows; nothing was staged (a source must land keys.parquet when "
            "ReadRequest.with_key_set is set)"
        )
    _require_hashed(spec, read)
    seconds = time.monotonic() - started
    moves = window.moves_watermark
    new_mark = read.next_watermark if moves else None
    watermark_after = str(new_mark["value"]) if new_mark else mark.value
    batch = Batch(
        flow_id=spec.id,
        run_id=run.run_id,
        batch_id=read.batch_id,
        files=read.files,
        columns=read.columns,
        rows=read.rows,
        bytes=read.bytes,
        # What the landed zstd Parquet would weigh uncompressed (footer sizes: no data read).
        bytes_uncompressed=sum(landing.uncompressed_bytes(url) for url in read.files.values()),
        fields_unselected=read.fields_unselected,
        window=BatchWindow(window.lower, window.upper, moves),
        watermark_before=mark.value,
        watermark_batch_before=mark.batch_id,
        watermark_after=watermark_after,
        sequence=sequence,
        boundary=_save_boundary(spec.id, read.batch_id, new_mark),
        adds_columns=read.adds_columns,
        seconds={"extract": seconds, "extract_startup": startup},
    )
    with connect(spec.state_conn_id) as state:
        _require_stageable(spec, read, state)
        audit.start_run(
            state,
            spec.id,
            run.run_id,
            run_type=run.run_type,
            triggered_by=run.triggered_by,
            trigger_events=run.trigger_events,
            batch_id=batch.batch_id,
            window_from=window.lower,
            window_to=window.upper,
            watermark_before=mark.value,
            rows_extracted=batch.rows,
            bytes_landed=batch.bytes,
            extract_seconds=seconds,
            **read.audit,
        )
        leases.renew(state, spec.id, run.run_id)
        failure = read.record(state) if read.record else None
        if failure:
            audit.update_run(state, spec.id, run.run_id, status="failed", error=failure)
        state.commit()
    if read.finish:
        read.finish()
    if failure:
        raise FatalError(failure)
    log.info(
        "Extracted %d rows (%d bytes landed) of flow %s in %.2fs, window %s",
        batch.rows, batch.bytes, spec.id, seconds, window.as_dict(),
    )  # fmt: skip
    return batch


def _require_hashed(spec: FlowSpec, read: SourceRead) -> None:
    """Every source must hash ``transform.hash`` columns before landing: refuse a batch that
    holds one in clear (and remove it), whichever connector read it."""
    names = [c for c, _ in read.columns if spec.transform.output_name(c) in spec.transform.hash]
    if not names or not read.rows:
        return
    clear = {
        name: sum(
            unhashed_values(table[name]) for table in landing.read_batches(read.files["data"], columns=[name])
        )
        for name in names
    }
    clear = {name: count for name, count in clear.items() if count}
    if clear:
        landing.remove_batch(spec.id, read.batch_id)
        raise FatalError(
            f"flow {spec.id!r}: the {spec.source.type} source landed column(s) {', '.join(sorted(clear))} "
            "unhashed although `transform.hash` names them; the batch was removed (a connector must hash "
            "them before landing, see syncgate.hashing)"
        )


def _require_stageable(spec: FlowSpec, read: SourceRead, state: psycopg.Connection[Any]) -> None:
    """The batch's columns must be stageable, keyable and orderable where they are staged (and
    then written): refuse a batch that is not (and remove it), naming each column and type."""
    cursor = spec.target_cursor
    problems = column_type_problems(
        state, output_columns(spec.transform, read.columns), keys=spec.target_primary_key,
        ordered=[cursor] if cursor else [],
        database=f"the database of connection {spec.state_conn_id!r} (where batches are staged)",
    )  # fmt: skip
    if problems:
        landing.remove_batch(spec.id, read.batch_id)
        raise FatalError(
            f"flow {spec.id!r}: the batch cannot be staged (it was removed): " + "; ".join(problems)
        )


def _save_boundary(flow_id: str, batch_id: str, mark: dict[str, object] | None) -> str | None:
    """The new watermark and the keys at its value: they can be many, so they stay out of XCom."""
    if mark is None:
        return None
    path = landing.batch_dir(flow_id, batch_id) / "boundary.json"
    landing.write_text(path, json.dumps(mark))  # one write: the keys can be many
    return str(path)
