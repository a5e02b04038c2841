"""Run a GX 1.x checkpoint on one staged table and build its Data Docs.

GX is imported here only, inside the verify task: never at DAG parse time. The context is
ephemeral (the connection string lives in memory only, so no secret is written to disk) but
its stores and Data Docs are file-backed per flow, so the docs accumulate every run.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncgate.db.identifiers import TableRef
from syncgate.quality.pg_types import engine_kwargs
from syncgate.quality.pii import guard_store
from syncgate.quality.template_cache import cache_gx_templates

log = logging.getLogger(__name__)

_RESULT_KEYS = (
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "element_count",
    "partial_unexpected_list",
)


@dataclass
class QualityResult:
    """JSON-safe outcome of a checkpoint run."""

    success: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    report: str | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]

    def as_dict(self) -> dict[str, Any]:
        return {"success": self.success, "results": self.results, "report": self.report}


def quiet_gx() -> None:
    """GX logs hundreds of INFO lines on import; keep task logs readable."""
    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)


def load_gx() -> None:
    """Import GX (quietly); a no-op once imported."""
    quiet_gx()
    import great_expectations  # noqa: F401


def run_checkpoint(
    *,
    flow_id: str,
    run_id: str,
    connection_url: str,
    table: TableRef,
    expectations: list[dict[str, Any]],
    result_format: str,
    docs_root: Path,
    sample_unexpected_values: int = 0,
    pii_columns: Collection[str] = (),
) -> QualityResult:
    """Validate ``table`` against ``expectations``; writes results and Data Docs under docs_root."""
    quiet_gx()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.metadata_types import FailureSeverity

    cache_gx_templates()
    docs_root.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(docs_root)),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    guard_store(context, pii_columns)  # results on PII columns keep their counts only
    # Every column type reflects by its own name (not as NullType, which GX cannot print).
    # (``kwargs`` is a field of every SQL datasource; GX's stub for add_postgres omits it.)
    source = context.data_sources.add_postgres(
        "target",
        connection_string=connection_url,
        kwargs=engine_kwargs(),  # type: ignore[call-arg]
    )
    # A fixed asset name: the flow's stored validation definition must resolve on every run,
    # whatever this run's staging table is called.
    asset = source.add_table_asset(name="staging", table_name=table.name, schema_name=table.schema)
    batch = asset.add_batch_definition_whole_table("staged_batch")
    suite = gx.ExpectationSuite(name=flow_id)
    for item in expectations:
        suite.add_expectation_configuration(
            ExpectationConfiguration(
                type=item["type"],
                kwargs=item["kwargs"],
                meta=item.get("meta") or {},
                severity=FailureSeverity(item.get("severity") or "critical"),
            )  # fmt: skip
        )
    with flow_store_lock(docs_root):
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=flow_id, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=flow_id,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format=result_format_config(result_format, sample_unexpected_values),
            )
        )
        outcome = checkpoint.run(run_id=RunIdentifier(run_name=_safe(run_id)))
    results: list[dict[str, Any]] = []
    report = None
    for identifier, validation in outcome.run_results.items():
        for checked in validation.results:
            config_ = checked.expectation_config
            if config_ is None:
                continue
            summary = {k: _jsonable(checked.result.get(k)) for k in _RESULT_KEYS if k in checked.result}
            results.append(
                {"type": config_.type, "kwargs": _jsonable(dict(config_.kwargs)),
                 "success": bool(checked.success), "severity": _severity(config_),
                 "meta": _jsonable(dict(config_.meta or {})), **summary}
            )  # fmt: skip
        urls = context.get_docs_sites_urls(resource_identifier=identifier)
        report = next((u["site_url"] for u in urls if u.get("site_url")), report)
    return QualityResult(success=bool(outcome.success), results=results, report=report)


@contextmanager
def flow_store_lock(docs_root: Path) -> Iterator[None]:
    """One checkpoint at a time on a flow's GX store, across processes.

    Runs of one flow can verify at the same moment (a backfill's runs, ``airflow dags test``
    beside a scheduled run). Each saves the flow's suite, validation definition and checkpoint to
    the same files and then runs the checkpoint, which GX refuses (or reads half-written JSON)
    when another run re-saved them in between. They validate different staging tables, so
    taking turns here is all they need.
    """
    with (docs_root / ".checkpoint.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _safe(run_id: str) -> str:
    # Run ids become folder names in the Data Docs site.
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass
    # GX turns ISO strings in kwargs into datetimes: keep the dict, stringify what JSON lacks.
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _severity(config: Any) -> str:
    """``critical`` failures fail the gate; ``warning`` / ``info`` ones are reported only."""
    severity = getattr(config, "severity", None) or "critical"
    return str(getattr(severity, "value", severity))


def result_format_config(name: str, sample_values: int = 0) -> dict[str, Any]:
    """GX result format; no sample of unexpected values unless asked (they may be PII, and
    fetching them costs an extra scan per expectation)."""
    return {"result_format": name, "partial_unexpected_count": sample_values}
