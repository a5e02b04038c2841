"""Assemble a run report: one JSON-safe dict joining the audit row, the batch manifest and the
GX result. Every part may be missing (a run that failed in extract has no manifest, a run
that failed before extract wrote its audit row has none): the report then says so."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

from syncgate.quality.pii import SAFE_RESULT_KEYS, columns_of, touches_pii
from syncgate.report.paths import docs_link, docs_path, report_url, run_key

# 2: rows.rejected became rows.refused (records refused one by one) and rows.held_by_gate (the
# batch the quality gate held back); window.watermark_after is only ever the watermark after the run.
SCHEMA_VERSION = 2
STAGES = ("extract", "transform", "load", "verify", "promote")
ROW_COUNTS = ("extracted", "inserted", "updated", "deleted")
_SAMPLE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts")


def build_report(
    *,
    flow_id: str,
    run_id: str,
    audit: Mapping[str, Any] | None = None,
    manifest: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    transform_drop: list[str] | None = None,
    pii_columns: list[str] | None = None,
    error: str | None = None,
    now: dt.datetime | None = None,
    sides: list[str] | None = None,
    conflict_rows: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report of one run as a JSON-safe dict.

    Args:
        audit: the run's ``syncgate.sync_runs`` row.
        manifest: the newest batch manifest of the run (extract's, or a later stage's).
        quality: the GX verdict (``QualityResult.as_dict()`` plus ``failures``); defaults to the
            manifest's ``quality``.
        transform_drop: the spec's ``transform.drop``.
        pii_columns: columns whose values must not appear (results on them keep counts only).
        error: an error to show when the audit row has none.
        sides: a sync flow's side names (the report then has a ``sides`` entry).
        conflict_rows: a sync flow's conflict log rows of this run (``syncgate.sync_conflicts``,
            pii values already hashed); with them ``conflicts`` holds the audit row's counts
            (``total``, ``parked``, ``by_field_rule``) and ``rows``.
    """
    row = dict(audit or {})
    batch = dict(manifest or {})
    verdict = dict(quality or batch.get("quality") or {})
    pii = list(pii_columns or [])
    status = row.get("status") or ("failed" if error else "unknown")
    report = {
        "schema_version": SCHEMA_VERSION,
        "flow_id": flow_id,
        "run_id": run_id,
        "run_key": run_key(run_id),
        "report_url": report_url(flow_id, run_id),
        "status": status,
        "run_type": row.get("run_type"),
        "triggered_by": row.get("triggered_by"),
        "trigger_events": row.get("trigger_events"),
        "batch_id": row.get("batch_id") or batch.get("batch_id"),
        "started_at": row.get("started_at"),
        "finished_at": row.get("finished_at"),
        "generated_at": now or dt.datetime.now(dt.UTC),
        "window": _window(row, batch, status),
        "rows": _rows(row, batch, status),
        "fields_dropped": _fields_dropped(batch, transform_drop or []),
        "bytes": _bytes(row, batch),
        "schema_changes": row.get("schema_changes"),
        "conflicts": row.get("conflicts")
        if conflict_rows is None
        else _conflicts(row.get("conflicts"), conflict_rows),
        "quality": _quality(flow_id, row, verdict, pii),
        "freshness": {
            "high_water_mark": row.get("high_water_mark"),
            "lag_seconds": row.get("lag_seconds"),
            "status": row.get("freshness_status"),
        },
        "durations": _durations(row, batch),
        "error": row.get("error") or error,
    }
    if sides is not None:
        report["sides"] = list(sides)
    return jsonable(report)


_CONFLICT_KEYS = ("id", "record_key", "field", "rule", "status", "winner", "value", "base_value",
                  "side_values", "detected_at", "resolution", "resolved_by", "resolved_at", "run_id")  # fmt: skip


def _conflicts(counts: Any, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A sync run's conflicts: the audit row's counts and the log's rows (newest first)."""
    counts = counts if isinstance(counts, Mapping) else {}
    return {
        "total": counts.get("total", len(rows)),
        "parked": counts.get("parked", sum(1 for r in rows if r.get("status") == "parked")),
        "by_field_rule": list(counts.get("by_field_rule") or []),
        "rows": [{k: r.get(k) for k in _CONFLICT_KEYS} for r in rows],
    }


def _window(row: dict[str, Any], batch: dict[str, Any], status: str) -> dict[str, Any]:
    """The cursor window and what became of the watermark.

    ``watermark_after`` is the audit row's (set only when promote settles the run); the
    manifest's value is where this batch *would* move the watermark, so it is reported apart
    (``watermark_proposed``) and never as the watermark after a run that did not promote.
    ``watermark_moved``: True or False once the run settled, None while it runs.
    """
    window = batch.get("window") or {}
    before = row.get("watermark_before", batch.get("watermark_before"))
    after = row.get("watermark_after")
    if status == "success":
        moved: bool | None = after is not None and after != before
    elif status == "superseded":  # a newer batch promoted first and moved it, not this run
        moved, after = None, None
    elif status in ("rejected", "failed"):
        moved = False  # promote commits the watermark with the data: no promote, no move
        after = before
    else:
        moved = None
    return {
        "cursor_from": row.get("window_from", window.get("from")),
        "cursor_to": row.get("window_to", window.get("to")),
        "watermark_before": before,
        "watermark_after": after,
        "watermark_moved": moved,
        "watermark_proposed": batch.get("watermark_after"),
    }


def _rows(row: dict[str, Any], batch: dict[str, Any], status: str) -> dict[str, Any]:
    """Row counts. Two kinds of "no" are kept apart: ``refused`` counts records refused one by
    one (an HTTP source's records that could not be coerced, ``syncgate.rejected_records``);
    ``held_by_gate`` counts the rows of a batch the quality gate held back whole (status
    ``rejected``), which reached neither the target nor ``rejected_records``."""
    counts = {name: row.get(f"rows_{name}") for name in ROW_COUNTS}
    if counts["extracted"] is None:
        counts["extracted"] = batch.get("rows")
    counts["refused"] = row.get("rows_rejected")
    held = (batch.get("staged_rows"), batch.get("rows"), counts["extracted"])
    counts["held_by_gate"] = next((n for n in held if n is not None), None) if status == "rejected" else None
    for extra in ("pushed", "push_failed"):  # HTTP targets fill these
        if row.get(f"rows_{extra}") is not None:
            counts[extra] = row[f"rows_{extra}"]
    return counts


def _fields_dropped(batch: dict[str, Any], transform_drop: list[str]) -> dict[str, list[str]]:
    unselected = list(batch.get("fields_unselected") or [])
    return {"not_selected": unselected, "transform_drop": list(transform_drop)}


def _bytes(row: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    landed = row.get("bytes_landed") if row.get("bytes_landed") is not None else batch.get("bytes")
    uncompressed = batch.get("bytes_uncompressed")
    ratio = uncompressed / landed if landed and uncompressed else None
    result = {"landed_compressed": landed, "uncompressed": uncompressed, "compression_ratio": ratio}
    for extra in ("wire", "decoded"):  # HTTP sources fill these
        if row.get(f"bytes_{extra}") is not None:
            result[extra] = row[f"bytes_{extra}"]
    return result


def _quality(flow_id: str, row: dict[str, Any], verdict: dict[str, Any], pii: list[str]) -> dict[str, Any]:
    results = verdict.get("results")
    if results is None and row.get("failed_expectations") is not None:
        results = row["failed_expectations"]  # only the failures survive in the audit row
    site_url = verdict.get("report") or row.get("quality_report")
    page = docs_path(flow_id, site_url)
    success = verdict.get("success")
    state = row.get("quality_verdict") or (None if success is None else ("passed" if success else "failed"))
    return {
        "verdict": state,
        "expectations": [_expectation(r, pii) for r in results or []],
        "docs_path": page,
        "docs_link": docs_link(page),
    }


def _expectation(result: Mapping[str, Any], pii: list[str]) -> dict[str, Any]:
    kwargs = dict(result.get("kwargs") or {})
    sensitive = touches_pii(kwargs, pii)
    entry: dict[str, Any] = {
        "type": result.get("type"),
        "columns": sorted(columns_of(kwargs)),
        "kwargs": kwargs,
        "success": result.get("success"),
        "pii": sensitive,
    }
    for key in ("element_count", "unexpected_count", "unexpected_percent", "observed_value"):
        if key in result and (not sensitive or key in SAFE_RESULT_KEYS):
            entry[key] = result[key]
    if not sensitive:  # GX results are scrubbed already; this is the second lock
        sample = next((result[k] for k in _SAMPLE_KEYS if result.get(k)), None)
        if sample:
            entry["unexpected_sample"] = sample
    return entry


def _durations(row: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    """Seconds per stage: the audit row's, else the manifest's (transform records only there)."""
    seconds = dict(batch.get("seconds") or {})
    durations: dict[str, Any] = {}
    for stage in STAGES:
        value = row.get(f"{stage}_seconds")
        durations[stage] = value if value is not None else seconds.get(stage)
    known = [v for v in durations.values() if isinstance(v, (int, float))]
    durations["total"] = sum(known) if known else None
    # Library start-up (importing psycopg, pyarrow, GX), measured apart from the stages' own work.
    startup = {stage: seconds.get(f"{stage}_startup") for stage in STAGES}
    durations["startup"] = {k: v for k, v in startup.items() if isinstance(v, (int, float))}
    return durations


def jsonable(value: Any) -> Any:
    """Plain JSON types only: datetimes as ISO 8601, decimals as numbers, NaN/inf as strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value)) if value.is_finite() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)
