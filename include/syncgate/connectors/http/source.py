"""The HTTP source: page through the run's window of a JSON list endpoint into landed Parquet.

Completed pages are checkpointed in the landing area in parts of a few MB, and on any failure
(``checkpoint``): a retry of the same run resumes after the last landed page. The watermark
becomes the newest cursor value of the batch; ``cursor_param`` asks the API for records at or
after the current one (inclusive, as the PostgreSQL source's ``>=``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate.arrow_types import arrow_schema
from syncgate.batch.window import Window, plan_window
from syncgate.connectors.base import ReadRequest, SourceRead
from syncgate.connectors.http.checkpoint import Checkpoint
from syncgate.connectors.http.coerce import sort_key
from syncgate.connectors.http.dedupe import superseded
from syncgate.connectors.http.drift import SchemaTracker
from syncgate.connectors.http.keyset import Keyset
from syncgate.connectors.http.page import PageRules, shape_page
from syncgate.connectors.http.pagination import Paginator
from syncgate.connectors.http.records import record_list
from syncgate.connectors.http.rejects import record_rejects, reject_failure
from syncgate.connectors.http.retry import RetryPolicy
from syncgate.connectors.http.spec import HttpSource as HttpSourceSpec
from syncgate.db.connect import connect
from syncgate.errors import FatalError
from syncgate.hashing import hash_keys
from syncgate.state.source_schemas import read_source_schema, write_source_schema

if TYPE_CHECKING:
    from syncgate.batch.contract import Columns
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec
    from syncgate.state.watermarks import Watermark

# The HTTP provider's hook (it imports aiohttp: 0.2-0.3 s) and the decoders every request uses.
HTTP_LIBRARIES = ("requests", "msgspec", "airflow.providers.http.hooks.http")

log = logging.getLogger(__name__)


class HttpSource:
    """Pages through a JSON list endpoint of the API behind ``conn_id``."""

    libraries: tuple[str, ...] = HTTP_LIBRARIES
    lands_postgres_text = False  # values were shaped by syncgate, not printed by PostgreSQL

    def __init__(self, spec: HttpSourceSpec) -> None:
        self.spec = spec

    def plan_window(self, flow: FlowSpec, run: RunInfo, mark: Watermark) -> Window:
        return plan_window(self.spec.cursor, run, mark, skip_boundary=flow.target.write == "append")

    def current_schema(self, flow: FlowSpec) -> Columns:
        """The columns the last extract saw (the API has no catalog to ask)."""
        with connect(flow.state_conn_id) as state:
            schema = read_source_schema(state, flow.id) or {}
        return [(name, str(column.get("type"))) for name, column in schema.items()]

    def read(self, request: ReadRequest) -> SourceRead:
        return _read(self.spec, request)


def _read(source: HttpSourceSpec, request: ReadRequest) -> SourceRead:
    """Land the run's window of the API as Parquet, resuming after the pages a failed try landed."""
    from syncgate.connectors.http.client import ApiClient

    spec, run, window, mark = request.flow, request.run, request.window, request.mark
    started = time.monotonic()
    with connect(spec.state_conn_id) as state:
        reference = read_source_schema(state, spec.id)
        state.commit()
    target_types = _by_source_name(spec, request.target_columns)
    append = spec.target.write == "append"
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
                page_request = pager.request()
                response = client.get_json(page_request.url, page_request.params)
                where = f"flow {spec.id!r}: GET {response.url}"
                records = record_list(
                    response.body, source.records, where, bool(progress.get("records_seen"))
                )
                progress["records_seen"] = True  # the path is right: a later absent list is "no records"
                records = pager.advance(
                    response.body, dict(response.headers), records, client.url(page_request.url)
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
    failure = reject_failure(spec, len(rejected))

    def record(state: Any) -> str | None:
        record_rejects(state, spec.id, run.run_id, checkpoint.batch_id, rejected)
        if not failure:
            write_source_schema(state, spec.id, tracker.schema())
        return failure

    log.info(
        "Read %d records (%d rejected, %d pages, %d retries) of flow %s in %.2fs: %d bytes on the wire, "
        "%d decoded, %d landed; schema changes: %d",
        rows, len(rejected), pager.state["pages"], retries, spec.id, seconds,
        progress.get("bytes_wire", 0), progress.get("bytes_decoded", 0), data_bytes, len(changes),
    )  # fmt: skip
    return SourceRead(
        batch_id=checkpoint.batch_id,
        files={"data": str(data_path)},
        columns=[(str(n), str(t)) for n, t in columns],
        rows=rows,
        bytes=data_bytes,
        next_watermark=(
            {"value": str(new_mark), "keys": boundary_keys(window, new_mark, progress)}
            if new_mark is not None
            else None
        ),
        # Promote adds columns the target lacks (new fields under `schema_drift: evolve`).
        adds_columns=source.schema_drift == "evolve",
        audit={
            "rows_rejected": len(rejected),
            "bytes_wire": progress.get("bytes_wire", 0),
            "bytes_decoded": progress.get("bytes_decoded", 0),
            "schema_changes": changes,
        },
        record=record,
        finish=checkpoint.finish,
    )


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


def _by_source_name(spec: FlowSpec, target_columns: dict[str, str]) -> dict[str, str]:
    """The target's column types by source field name, for inferring the types of new fields.

    Columns a transform retypes (cast, hash, map_values) are left out: their target type is
    the transform's, not the landed one.
    """
    steps = spec.transform
    retyped = set(steps.cast) | set(steps.hash) | set(steps.map_values)
    source_name = {out: src for src, out in steps.rename.items()}
    return {
        source_name.get(name, name): pg_type
        for name, pg_type in target_columns.items()
        if name not in retyped
    }


def _params(source: HttpSourceSpec, window: Window) -> dict[str, Any]:
    params: dict[str, Any] = {
        k: (str(v).lower() if isinstance(v, bool) else v) for k, v in source.params.items()
    }
    if source.cursor_param and window.lower is not None:
        params[source.cursor_param] = window.lower
    return params


def _keyset(spec: FlowSpec, source: HttpSourceSpec, window: Window) -> Keyset | None:
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
