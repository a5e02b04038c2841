"""Extract from an HTTP API: page through the run's window into a landed Parquet batch.

The landed batch and manifest have the shape ``pipeline.extract`` produces, so transform,
load, verify and promote work unchanged. Completed pages are checkpointed in the landing area
in parts of a few MB, and on any failure (``syncgate.http.checkpoint``): a retry of the same run
resumes after the last landed page.
The watermark becomes the newest cursor value of the batch; ``cursor_param`` asks the API for
records at or after the current one (inclusive, as the PostgreSQL source's ``>=``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from syncgate import landing
from syncgate.arrow_types import arrow_schema
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.http.checkpoint import Checkpoint
from syncgate.http.coerce import sort_key
from syncgate.http.dedupe import superseded
from syncgate.http.drift import SchemaTracker
from syncgate.http.keyset import Keyset
from syncgate.http.page import PageRules, shape_page
from syncgate.http.pagination import Paginator
from syncgate.http.records import record_list
from syncgate.http.rejects import record_rejects, reject_failure
from syncgate.http.retry import RetryPolicy
from syncgate.pipeline.hashing import hash_keys
from syncgate.pipeline.run import RunInfo
from syncgate.pipeline.startup import import_libraries
from syncgate.pipeline.window import Window, plan_window
from syncgate.spec.model import FlowSpec, HttpSource, PostgresTarget
from syncgate.state import audit
from syncgate.state.schema import ensure_state_schema
from syncgate.state.source_schemas import read_source_schema, write_source_schema
from syncgate.state.watermarks import read_watermark

log = logging.getLogger(__name__)


def extract_http(spec: FlowSpec, run: RunInfo) -> dict[str, Any]:
    """Land the run's window of an HTTP source as Parquet and return the batch manifest."""
    from syncgate.http.client import ApiClient

    source = spec.source
    assert isinstance(source, HttpSource)
    startup = import_libraries("extract", http=True)
    started = time.monotonic()
    with connect(spec.state_conn_id) as state:
        ensure_state_schema(state)
        mark = read_watermark(state, spec.id)
        reference = read_source_schema(state, spec.id)
        target_types = _target_types(state, spec)
        state.commit()
    append = spec.target.write == "append"
    window = plan_window(source.cursor, run, mark, skip_boundary=append)
    checkpoint = Checkpoint.open(spec.id, run.key, _identity(spec, run, window, mark.batch_id))
    progress: dict[str, Any] = checkpoint.state.setdefault("progress", {})
    hashed = _hashed_columns(spec)
    declared = {n: t for n, (_, t) in source.field_paths().items() if t} | dict.fromkeys(hashed, "text")
    tracker = SchemaTracker(
        spec.id,
        source.schema_drift,
        reference,
        declared,
        source.columns,
        checkpoint.state.get("schema"),
        target_types,
    )
    pager = Paginator(
        source.pagination,
        source.endpoint,
        _params(source, window),
        checkpoint.state.get("pager"),
        _keyset(spec, source, window),
    )
    rules = PageRules(
        primary_key=source.primary_key,
        cursor=source.cursor,
        declared_paths={n: p for n, (p, _) in source.field_paths().items()},
        top_level=True,
        hashed=hashed,
        pii=spec.pii_names,
        lower=window.lower,
        upper=window.upper,
        skip_keys=set(window.skip_keys),
        boundary_keys=append,
    )
    retry = RetryPolicy(
        max_attempts=source.retry.max_attempts,
        backoff_seconds=source.retry.backoff_seconds,
        max_backoff_seconds=source.retry.max_backoff_seconds,
    )
    with ApiClient(
        source.conn_id,
        max_requests_per_second=source.max_requests_per_second,
        timeout=source.timeout.total_seconds(),
        retry=retry,
    ) as client:
        try:
            while not pager.done:
                request = pager.request()
                response = client.get_json(request.url, request.params)
                where = f"flow {spec.id!r}: GET {response.url}"
                records = record_list(
                    response.body, source.records, where, bool(progress.get("records_seen"))
                )
                progress["records_seen"] = True  # the path is right: a later absent list is "no records"
                records = pager.advance(
                    response.body, dict(response.headers), records, client.url(request.url)
                )
                table, rejects = shape_page(records, rules, tracker, progress)
                if table is not None and table.num_rows:
                    _check_column_names(spec, [name for name, _ in tracker.columns])
                for key in ("bytes_wire", "bytes_decoded"):
                    progress[key] = progress.get(key, 0) + getattr(response, key)
                progress["requests"] = progress.get("requests", 0) + 1
                checkpoint.save_page(
                    table, rejects, pager=pager.state, schema=tracker.state, progress=progress
                )
        except BaseException:
            # Land the pages completed before the failure: the task's retry resumes after them.
            _flush_quietly(checkpoint, spec.id)
            raise
        retries = client.retries
    required = [*source.primary_key, *([source.cursor] if source.cursor else [])]
    changes = tracker.finish(int(progress.get("rows", 0)), required)
    columns = tracker.columns
    # A record updated mid-extraction (or between attempts) can land twice: keep its newest version.
    older = superseded(checkpoint.parts(), source.primary_key, source.cursor)
    data_path, rows, data_bytes = checkpoint.combine(arrow_schema(columns), older)
    rejected = checkpoint.rejects()
    seconds = time.monotonic() - started
    new_mark = progress.get("cursor_max") if window.moves_watermark else None
    watermark_after = str(new_mark) if new_mark is not None else mark.value
    manifest: dict[str, Any] = {
        "flow_id": spec.id,
        "run_id": run.run_id,
        "batch_id": checkpoint.batch_id,
        "files": {"data": str(data_path)},
        "columns": [list(c) for c in columns],
        "rows": rows,
        "bytes": data_bytes,
        "bytes_uncompressed": landing.uncompressed_bytes(str(data_path)),
        "fields_unselected": [],
        "window": window.as_dict(),
        "watermark_before": mark.value,
        "watermark_batch_before": mark.batch_id,
        "watermark_after": watermark_after if window.moves_watermark else mark.value,
        "boundary": (
            _save_boundary(checkpoint, new_mark, boundary_keys(window, new_mark, progress))
            if window.moves_watermark
            else None
        ),
        # Promote adds columns the target lacks (new fields under `schema_drift: evolve`).
        "add_columns": source.schema_drift == "evolve",
        "seconds": {"extract": seconds, "extract_startup": startup},
    }
    failure = reject_failure(spec, len(rejected))
    with connect(spec.state_conn_id) as state:
        audit.start_run(
            state, spec.id, run.run_id, run_type=run.run_type, batch_id=checkpoint.batch_id,
            window_from=window.lower, window_to=window.upper, watermark_before=mark.value,
            rows_extracted=rows, rows_rejected=len(rejected), bytes_landed=data_bytes,
            bytes_wire=progress.get("bytes_wire", 0), bytes_decoded=progress.get("bytes_decoded", 0),
            schema_changes=changes, extract_seconds=seconds,
        )  # fmt: skip
        record_rejects(state, spec.id, run.run_id, checkpoint.batch_id, rejected)
        if failure:
            audit.update_run(state, spec.id, run.run_id, status="failed", error=failure)
        else:
            write_source_schema(state, spec.id, tracker.schema())
        state.commit()
    checkpoint.finish()
    if failure:
        raise FatalError(failure)
    log.info(
        "Extracted %d rows (%d rejected, %d pages, %d retries) of flow %s in %.2fs: %d bytes on the wire, "
        "%d decoded, %d landed; schema changes: %d",
        rows, len(rejected), pager.state["pages"], retries, spec.id, seconds,
        progress.get("bytes_wire", 0), progress.get("bytes_decoded", 0), data_bytes, len(changes),
    )  # fmt: skip
    return manifest


def _flush_quietly(checkpoint: Checkpoint, flow_id: str) -> None:
    """``checkpoint.flush()`` on the error path: a failing flush must not hide the first error."""
    try:
        checkpoint.flush()
    except Exception:  # the retry then resumes from the last part landed before
        log.warning("Flow %s: could not land the completed pages before failing", flow_id, exc_info=True)


def _identity(spec: FlowSpec, run: RunInfo, window: Window, mark_batch: str | None) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: same run, window, watermark and source spec."""
    source = spec.source.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps([source, spec.transform.hash], sort_keys=True).encode()).hexdigest()
    return {"run_id": run.run_id, "window": window.as_dict(), "mark_batch": mark_batch, "spec": digest}


def _target_types(conn: Any, spec: FlowSpec) -> dict[str, str]:
    """Column types of an existing PostgreSQL target, by source field name.

    Columns a transform retypes (cast, hash, map_values) are left out: their target type is
    the transform's, not the landed one.
    """
    from syncgate.db.catalog import relation_exists, table_columns
    from syncgate.db.identifiers import TableRef

    if not isinstance(spec.target, PostgresTarget):
        return {}
    table = TableRef.parse(spec.target.table)
    if not relation_exists(conn, table):
        return {}
    steps = spec.transform
    retyped = set(steps.cast) | set(steps.hash) | set(steps.map_values)
    source_name = {out: src for src, out in steps.rename.items()}
    return {
        source_name.get(name, name): pg_type
        for name, pg_type in table_columns(conn, table)
        if name not in retyped
    }


def _params(source: HttpSource, window: Window) -> dict[str, Any]:
    params: dict[str, Any] = {
        k: (str(v).lower() if isinstance(v, bool) else v) for k, v in source.params.items()
    }
    if source.cursor_param and window.lower is not None:
        params[source.cursor_param] = window.lower
    return params


def _keyset(spec: FlowSpec, source: HttpSource, window: Window) -> Keyset | None:
    """Re-anchored paging when the API filters by the cursor; else positions (and their limit)."""
    if source.pagination is None or source.pagination.style not in ("page", "offset"):
        return None  # token and link paging are driven by the server
    if not (source.cursor and source.cursor_param):
        log.warning(
            "Flow %s pages by %s without `cursor_param`: a record updated or deleted during the "
            "extraction can shift the list and another record be skipped until a full re-read",
            spec.id,
            source.pagination.style,
        )
        return None
    paths = {name: path for name, (path, _) in source.field_paths().items()}
    return Keyset(
        param=source.cursor_param,
        cursor_path=paths.get(source.cursor, source.cursor),
        key_paths=tuple(paths.get(k, k) for k in source.primary_key),
        lower=window.lower,
        upper=window.upper,
    )


def _check_column_names(spec: FlowSpec, columns: list[str]) -> None:
    """Before a page lands: a misspelt ``hash`` or ``pii`` name must not leave a field in clear."""
    try:
        spec.check_column_names(columns)
    except ValueError as exc:
        raise FatalError(
            f"flow {spec.id!r}: {exc} (fields seen: {', '.join(columns)}; a field the API only "
            "sometimes sends must be declared under `source.fields`)"
        ) from exc


def _hashed_columns(spec: FlowSpec) -> dict[str, bytes]:
    """Columns hashed before landing (PII never lands in clear), with the key."""
    hashed = [c for c in spec.transform.hash if c not in spec.transform.rename.values()]
    hashed += [src for src, out in spec.transform.rename.items() if out in spec.transform.hash]
    return hash_keys(spec, hashed)


def boundary_keys(window: Window, value: Any, progress: dict[str, Any]) -> list[str]:
    """Keys of every row at the new watermark value, as the PostgreSQL source stores them.

    When the newest value is the old watermark itself, the rows promoted there before were
    skipped by this run (``window.skip_keys``) but carry the value too: keep them, or the next
    run appends them again.
    """
    keys = list(progress.get("boundary_keys") or [])
    if value is not None and window.lower is not None and sort_key(value) == sort_key(window.lower):
        keys = [*window.skip_keys, *keys]
    return list(dict.fromkeys(keys))  # a record read twice is one row


def _save_boundary(checkpoint: Checkpoint, value: Any, keys: list[str]) -> str | None:
    if value is None:
        return None
    path = checkpoint.directory / "boundary.json"
    path.write_text(json.dumps({"value": str(value), "keys": keys}))
    return str(path)
