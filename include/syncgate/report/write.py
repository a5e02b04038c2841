"""Write a run's report (JSON + HTML) next to the flow's GX Data Docs and keep the newest N.

Called at the end of verify when the gate rejects, at the end of promote, and by the DAG's
failure callback. Writing a report is best effort: it never fails or masks the run's outcome.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncgate import settings
from syncgate.report.build import build_report
from syncgate.report.paths import report_files, runs_dir
from syncgate.report.render import render_html
from syncgate.spec.sync_model import SyncSpec

if TYPE_CHECKING:
    from syncgate.spec.model import FlowSpec

# Conflict rows a report lists (newest first); the counts by field and rule cover them all.
REPORT_CONFLICT_ROWS = 200

log = logging.getLogger(__name__)


def write_report(
    spec: FlowSpec | SyncSpec,
    run_id: str,
    *,
    manifest: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> tuple[Path, Path]:
    """Build the run's report from its audit row, ``manifest`` and ``quality``; returns the
    (JSON, HTML) paths written. A sync flow's report adds its sides and the run's conflicts."""
    from syncgate.redact import redact

    audit_row = read_audit(spec, run_id)
    if audit_row and audit_row.get("error"):
        audit_row["error"] = redact(audit_row["error"])  # a row written before redaction existed
    report = build_report(
        flow_id=spec.id,
        run_id=run_id,
        audit=audit_row,
        manifest=manifest,
        quality=quality,
        transform_drop=[] if isinstance(spec, SyncSpec) else list(spec.transform.drop),
        pii_columns=spec.pii_columns,
        error=redact(error),
        sides=spec.side_names if isinstance(spec, SyncSpec) else None,
        conflict_rows=read_run_conflicts(spec, run_id, audit_row) if isinstance(spec, SyncSpec) else None,
    )
    json_path, html_path = report_files(spec.id, run_id)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(json_path, json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False))
    _atomic_write(html_path, render_html(report))
    prune_run_reports(spec.id, keep=settings.report_runs(), current=json_path)
    log.info("Wrote the run report of flow %s to %s", spec.id, html_path)
    return json_path, html_path


def write_report_safely(spec: FlowSpec | SyncSpec, run_id: str, **kwargs: Any) -> tuple[Path, Path] | None:
    """``write_report``, logging instead of raising: a report must never fail a run."""
    try:
        return write_report(spec, run_id, **kwargs)
    except Exception:
        log.exception("Could not write the run report of flow %s", spec.id)
        return None


def read_audit(spec: FlowSpec | SyncSpec, run_id: str) -> dict[str, Any] | None:
    """The run's audit row, or None when the state database has none (yet)."""
    import psycopg

    from syncgate.db.connect import connect
    from syncgate.state import audit

    try:
        with connect(str(spec.state_conn_id)) as conn:
            return audit.read_run(conn, spec.id, run_id)
    except psycopg.errors.UndefinedTable:  # a flow that failed before creating its state schema
        return None


def read_run_conflicts(
    spec: SyncSpec, run_id: str, audit_row: Mapping[str, Any] | None
) -> list[Mapping[str, Any]]:
    """The conflict log rows of a sync run, newest first: those it detected, and the parked ones it
    resolved (their rows keep the run that parked them)."""
    import psycopg

    from syncgate.conflicts.log import run_conflicts
    from syncgate.db.connect import connect

    since = (audit_row or {}).get("started_at")
    try:
        with connect(str(spec.state_conn_id)) as conn:
            return list(
                run_conflicts(conn, spec.id, run_id, resolved_since=since, limit=REPORT_CONFLICT_ROWS)
            )
    except psycopg.errors.UndefinedTable:  # no sync run created the conflict log yet
        return []


def prune_run_reports(flow_id: str, keep: int, current: Path | None = None) -> int:
    """Keep the newest ``keep`` run reports of a flow (as GX reports are kept); returns how many
    went. ``current`` (the report just written) always stays."""
    folder = runs_dir(flow_id)
    if not folder.is_dir():
        return 0
    reports = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    stale = [p for p in reports[: max(len(reports) - keep, 0)] if p != current]
    for path in stale:
        path.unlink(missing_ok=True)
        path.with_suffix(".html").unlink(missing_ok=True)
    return len(stale)


def _atomic_write(path: Path, text: str) -> None:
    # The UI may serve the file while a retry rewrites it: never expose a half-written report.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_failure_report(spec: FlowSpec | SyncSpec, context: Any, error: str) -> None:
    """From a task's failure callback: the newest manifest the run's XComs hold, plus the error.

    Best effort, like every report: it logs and returns on any problem of its own.
    """
    try:
        ti = context["ti"]
        manifest = None
        # Each stage returns the manifest extended, so the newest upstream result is the fullest.
        for task_id in ("verify", "load", "transform", "extract"):
            if task_id != ti.task_id:
                manifest = ti.xcom_pull(task_ids=task_id)
                if isinstance(manifest, Mapping):
                    break
                manifest = None
        write_report(spec, context["dag_run"].run_id, manifest=manifest, error=error)
    except Exception:
        log.exception("Could not write the failure report of flow %s", spec.id)
