"""Verify: the quality gate. Runs the GX checkpoint on exactly the staged batch.

On failure the run's audit row says ``rejected``, the staged batch stays for inspection and a
``DataQualityError`` lists the failed expectations and the report; nothing reaches the target.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Any

from syncgate import settings
from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.batch.settle import staged_tables
from syncgate.db.connect import connect, sqlalchemy_url
from syncgate.db.identifiers import TableRef
from syncgate.errors import DataQualityError
from syncgate.pipeline.startup import import_libraries
from syncgate.quality import verdicts
from syncgate.quality.builtin import builtin_expectations, describe
from syncgate.quality.checkpoint import run_checkpoint
from syncgate.quality.retention import prune_reports
from syncgate.report.write import write_report_safely
from syncgate.spec.model import FlowSpec
from syncgate.state import audit
from syncgate.state.freshness import freshness_expectation

log = logging.getLogger(__name__)


def verify(spec: FlowSpec, run: RunInfo, batch: Batch) -> Batch:
    """Run the checkpoint; return the batch with the verdict, or raise DataQualityError."""
    # Importing GX costs seconds of library start-up (scipy, altair, pandas): measured apart
    # from the stage's own work, like the interpreter's and Airflow's start-up.
    startup = import_libraries("verify")
    started = time.monotonic()
    docs_root = settings.reports_dir() / spec.id / "gx"
    prune_reports(docs_root, spec.id, keep=settings.report_runs() - 1)  # this run makes it N
    # Not on backfills (their batch is old by design) nor on empty batches (nothing new is not stale
    # data: the target's high-water mark, measured at promote, says how fresh it is).
    fresh = (
        None
        if run.is_backfill or not batch.rows
        else freshness_expectation(
            spec,
            datetime.now(UTC),
            dict(batch.columns).get(spec.freshness.column if spec.freshness else ""),
        )
    )
    expectations = [
        *builtin_expectations(spec.target_primary_key, batch.rows),
        *[e.model_dump() for e in spec.quality.expectations],
        *([fresh] if fresh else []),
    ]
    # No writer can touch the staged batch while GX reads it; the verdict pins what GX read.
    with verdicts.sealed(spec.state_conn_id, staged_tables(batch)) as seal:
        result = run_checkpoint(
            flow_id=spec.id,
            run_id=run.run_id,
            connection_url=sqlalchemy_url(spec.state_conn_id),
            table=TableRef.parse(str(batch.staging_table)),
            expectations=expectations,
            result_format=spec.quality.result_format,
            sample_unexpected_values=spec.quality.sample_unexpected_values,
            docs_root=docs_root,
            pii_columns=spec.pii_columns,
        )
        seal.observed(result.results)
    seconds = time.monotonic() - started
    failures = [describe(r) for r in result.failed]
    # Only critical failures close the gate; warnings (the freshness check) are reported.
    passed = not any(r.get("severity", "critical") == "critical" for r in result.failed)
    with connect(spec.state_conn_id) as conn:
        values: dict[str, Any] = {
            "verify_seconds": seconds,
            "quality_verdict": "passed" if passed else "failed",
            "quality_report": result.report,
            "failed_expectations": result.failed,
        }
        if not passed:
            # The whole batch is held back; rows_rejected keeps counting records refused one by
            # one (an HTTP source's, in syncgate.rejected_records), so it is not overwritten here.
            values.update(status="rejected", error="quality gate failed")
        audit.update_run(conn, spec.id, run.run_id, **values)
        reason = None if passed else "; ".join(failures)
        verdicts.record(conn, spec.id, run.run_id, batch.batch_id, seal, passed=passed, reason=reason)
        conn.commit()
    verdict = {**result.as_dict(), "success": passed, "failures": failures}
    timed = batch.with_seconds(verify=seconds, verify_startup=startup)
    if not passed:
        log.error("Quality gate rejected flow %s: %s", spec.id, "; ".join(failures))
        write_report_safely(spec, run.run_id, manifest=timed.as_dict(), quality=verdict)
        raise DataQualityError(spec.id, failures, result.report)
    if failures:
        log.warning("Flow %s passed its quality gate with warnings: %s", spec.id, "; ".join(failures))
    log.info("Quality gate passed for flow %s (%d checks) in %.2fs", spec.id, len(result.results), seconds)
    return dataclasses.replace(timed, quality=verdict)
