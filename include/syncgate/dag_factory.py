"""Turn flow specs into Airflow DAGs of one fixed shape: extract -> transform -> load -> verify -> promote.

Nothing here opens a connection or imports a heavy library at parse time: the stage functions
import pyarrow / psycopg / GX inside the task bodies.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from syncgate import settings
from syncgate.errors import DataQualityError, RetriableError, SpecError, SyncgateError
from syncgate.spec.bounded_yaml import FolderBudget, SpecTooCostly
from syncgate.spec.loader import LoadedSpec, load_specs
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)

INVALID_SPECS_DAG_ID = "syncgate_invalid_specs"
# The spec shown in a DAG's docs is cut here: the docs are rendered at every parse.
DOC_SPEC_MAX_CHARS = 20_000
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def build_dags(folder: Path | None = None) -> dict[str, DAG]:
    """One DAG per valid spec in ``folder`` (default: ``SYNCGATE_FLOWS_DIR``), keyed by DAG id.

    Invalid specs do not raise here: they are gathered into one placeholder whose validation
    fails when Airflow bags it, so each shows up as a DAG import error naming the spec file and
    field while every valid flow still loads.
    """
    folder_budget = FolderBudget()
    loaded = load_specs(folder or settings.flows_dir(), folder_budget)
    running = _dag_being_run()
    dags: dict[str, DAG] = {}
    for index, item in enumerate(loaded):
        if item.spec is not None:
            if running is not None and item.spec.id != running:
                continue  # a task process needs its own flow's DAG only
            try:
                folder_budget.check()
                build = build_sync_dag if isinstance(item.spec, SyncSpec) else build_dag
                dag = build(item.spec, item.path)  # type: ignore[arg-type]
                if item.budget is not None:  # what loading the file left of its time
                    item.budget.check("building its DAG")
                dags[item.spec.id] = dag
            except SpecTooCostly as exc:
                loaded[index] = LoadedSpec(item.path, None, SpecError(str(item.path), [str(exc)]))
            except Exception as exc:  # e.g. a connector whose implementation cannot be imported here
                error = SpecError(
                    str(item.path), [f"the DAG could not be built: {type(exc).__name__}: {exc}"]
                )
                loaded[index] = LoadedSpec(item.path, None, error)
    broken = [item for item in loaded if item.error is not None]
    if broken:
        dags[INVALID_SPECS_DAG_ID] = _invalid_specs_placeholder(broken)
    return dags


def stage_task(**kwargs: Any) -> Any:
    """``@task`` for a stage: its dict result is ONE XCom (``multiple_outputs=False``).

    TaskFlow infers ``multiple_outputs`` from a ``dict`` return annotation and then pushes every
    key as an XCom of its own, one API call each (~20 per stage, ~0.4 s of every task's wall on
    the 2-core box); the next stage reads the whole dict, never a key.
    """
    from airflow.sdk import task

    return task(multiple_outputs=False, **kwargs)


def _dag_being_run() -> str | None:
    """The DAG id whose task this process runs, else None (the dag-processor, a CLI, a test).

    Airflow's parsing context (``get_parsing_context``): a task process parses the whole DAG
    file but uses one DAG of it, so the others are not built. Every spec is still loaded and
    validated, so an id claimed by two files stops that id here as everywhere.
    """
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def build_dag(spec: FlowSpec, path: Path) -> DAG:
    """The DAG of one flow."""
    from airflow.sdk import DAG, Asset

    from syncgate.report.links import attach as attach_report_link

    asset = _target_asset(spec, Asset)
    with DAG(schedule=_schedule(spec), **_dag_args(spec, tags=spec.tags, doc_md=_doc_md(spec, path))) as dag:
        # Flows calling one API share its Airflow pool, and so its rate limit.
        @stage_task(task_id="extract", **_pool(spec.source.pool_name))
        def extract(**context: Any) -> dict[str, Any]:
            from syncgate.pipeline.extract import extract as run_extract

            return _stage(
                lambda: run_extract(spec, _run(spec, context)).to_xcom(), lease=_lease(spec, context)
            )

        @stage_task(task_id="transform")
        def transform(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from syncgate.pipeline.transform import transform as run_transform

            return _stage(
                lambda: run_transform(spec, _batch(spec, batch, "transform")).to_xcom(),
                lease=_lease(spec, context),
            )

        @stage_task(task_id="load")
        def load(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from syncgate.pipeline.load import load as run_load

            return _stage(
                lambda: run_load(spec, _run(spec, context), _batch(spec, batch, "load")).to_xcom(),
                lease=_lease(spec, context),
            )

        @stage_task(task_id="verify")
        def verify(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from syncgate.pipeline.verify import verify as run_verify

            return _stage(
                lambda: run_verify(spec, _run(spec, context), _batch(spec, batch, "verify")).to_xcom(),
                context,
                lease=_lease(spec, context),
            )

        # A target behind a rate-limited API promotes in the API's pool: it bounds how many
        # tasks call that API at once.
        @stage_task(task_id="promote", outlets=[asset], **_pool(spec.target.pool_name))
        def promote(batch: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
            from syncgate.pipeline.promote import promote as run_promote

            # No batch (verify marked success by hand, or cleared): promote says why it refuses.
            counts = _stage(
                lambda: run_promote(
                    spec, _run(spec, context), None if batch is None else _batch(spec, batch, "promote")
                ),
                lease=_lease(spec, context),
            )
            _skip_if_superseded(spec, context, asset)
            return counts

        # TaskFlow passes XComArgs where the bodies receive dicts at run time.
        verified = verify(load(transform(extract())))  # type: ignore[arg-type]
        promoted = promote(verified)  # type: ignore[arg-type]
        for linked in (verified, promoted):
            attach_report_link(linked)
    return dag


def build_sync_dag(spec: SyncSpec, path: Path) -> DAG:
    """The DAG of a two-way or multi-way flow: per side extract -> transform, one reconcile,
    then per side load -> verify -> promote."""
    from airflow.sdk import DAG, Asset

    from syncgate.connectors.registry import target_for

    with DAG(
        schedule=_schedule(spec),
        **_dag_args(spec, tags=[spec.mode, *spec.tags], doc_md=_sync_doc_md(spec, path)),
    ) as dag:

        @stage_task(task_id="reconcile")
        def reconcile(transformed: dict[str, Any], **context: Any) -> dict[str, Any]:
            from syncgate.reconcile.decide import reconcile as run_reconcile

            return _stage(
                lambda: run_reconcile(spec, _run(spec, context), transformed),  # type: ignore[arg-type]
                lease=_lease(spec, context),
            )

        extracted: dict[str, Any] = {}
        for name in spec.side_names:
            extracted[name] = _side_extract(spec, name)()
        transformed = {name: _side_transform(spec, name)(extracted) for name in spec.side_names}
        plan = reconcile(transformed)  # type: ignore[arg-type]
        for name in spec.side_names:
            view = spec.side(name).view
            ref = target_for(view).asset(view)
            asset = Asset(name=ref.name, uri=ref.uri, group="syncgate")
            staged = _side_load(spec, name)(transformed[name], plan)
            verified = _side_verify(spec, name)(staged)
            _side_promote(spec, name, asset)(extracted[name], transformed[name], plan, verified)
    return dag


def _side_extract(spec: SyncSpec, name: str) -> Any:
    @stage_task(task_id=f"extract_{name}", **_pool(spec.side(name).source.pool_name))
    def extract(**context: Any) -> dict[str, Any]:
        from syncgate.reconcile.side_read import extract_side

        return _stage(
            lambda: extract_side(spec, name, _run(spec, context)),  # type: ignore[arg-type]
            lease=_lease(spec, context),
        )

    return extract


def _side_transform(spec: SyncSpec, name: str) -> Any:
    @stage_task(task_id=f"transform_{name}")
    def transform(extracted: dict[str, Any], **context: Any) -> dict[str, Any]:
        from syncgate.reconcile.side_read import transform_side

        return _stage(
            lambda: transform_side(spec, name, _run(spec, context), extracted),  # type: ignore[arg-type]
            lease=_lease(spec, context),
        )

    return transform


def _side_load(spec: SyncSpec, name: str) -> Any:
    @stage_task(task_id=f"load_{name}")
    def load(transformed: dict[str, Any], plan: dict[str, Any], **context: Any) -> dict[str, Any]:
        from syncgate.reconcile.side_apply import load_side

        side_plan = plan["sides"][name]
        return _stage(
            lambda: load_side(spec, name, _run(spec, context), transformed, side_plan),  # type: ignore[arg-type]
            lease=_lease(spec, context),
        )

    return load


def _side_verify(spec: SyncSpec, name: str) -> Any:
    @stage_task(task_id=f"verify_{name}")
    def verify(staged: dict[str, Any], **context: Any) -> dict[str, Any]:
        from syncgate.reconcile.side_apply import verify_side

        return _stage(
            lambda: verify_side(spec, name, _run(spec, context), staged),  # type: ignore[arg-type]
            context,
            lease=_lease(spec, context),
        )

    return verify


def _side_promote(spec: SyncSpec, name: str, asset: Any) -> Any:
    @stage_task(task_id=f"promote_{name}", outlets=[asset], **_pool(spec.side(name).target.pool_name))
    def promote(
        extracted: dict[str, Any],
        transformed: dict[str, Any],
        plan: dict[str, Any],
        verified: dict[str, Any],
        **context: Any,
    ) -> dict[str, Any]:
        from syncgate.reconcile.side_apply import promote_side

        run = _run(spec, context)  # type: ignore[arg-type]
        return _stage(
            lambda: promote_side(spec, name, run, extracted, transformed, plan["sides"][name], verified),
            lease=_lease(spec, context),
        )  # type: ignore[arg-type]

    return promote


def _sync_doc_md(spec: SyncSpec, path: Path) -> str:
    shown = _spec_yaml(spec.model_dump(mode="json", exclude_defaults=True, by_alias=True), path)
    sides = ", ".join(f"`{s.name}` ({s.type})" for s in spec.all_sides)
    return (
        f"## {spec.id}\n\n{spec.description}\n\n"
        f"**Shape ({spec.mode.replace('_', '-')}):** per side extract → transform, one reconcile (three-way "
        "merge, conflict rules, conflict log), then per side load (staging) → verify (Great Expectations) → "
        "promote. A side whose writes fail the gate is not written.\n\n"
        f"**Sides:** {sides}. State, bases and conflict log: `{spec.state_conn_id}`.\n\n"
        f"**Spec file:** `{path.name}`\n\n```yaml\n{shown}```\n"
    )


# Runs of an event-driven one-way flow that may be active at once: a change that arrives while a
# run works starts the next run at once instead of waiting for it to end (its read waits only
# for the other's read; batch numbers keep the promotes in order, ``batch/fence.py``). Events
# that arrive while both run are queued by Airflow and start one run when a slot frees.
EVENT_RUNS_IN_FLIGHT = 2


def max_active_runs(spec: FlowSpec | SyncSpec) -> int:
    """2 for a one-way flow with triggers whose target applies a batch atomically, else 1.

    A newer run's window starts where the older one's did, so it writes the older run's rows
    again: harmless for every write mode except an append without a primary key, which would
    insert them twice. A target written call by call (an API) could take an older run's push
    over a newer run's unfinished one. A sync flow's plan reads every side: an overlapping plan
    would be stale by the time it applied, and refused.
    """
    from syncgate.connectors.registry import target_for

    if not isinstance(spec, FlowSpec) or not spec.triggers:
        return 1
    if spec.target.write == "append" and not spec.target_primary_key:
        return 1
    if not getattr(target_for(spec), "applies_atomically", False):
        return 1
    return EVENT_RUNS_IN_FLIGHT


def _dag_args(spec: FlowSpec | SyncSpec, *, tags: list[str], doc_md: str) -> dict[str, Any]:
    """What every flow's DAG shares besides its schedule: runs in flight, retries, the failure audit."""
    return {
        "dag_id": spec.id,
        "description": spec.description or None,
        "start_date": datetime.combine(spec.start_date, datetime.min.time(), tzinfo=UTC),
        "catchup": False,
        "max_active_runs": max_active_runs(spec),
        "tags": sorted({"syncgate", *tags}),
        "doc_md": doc_md,
        "default_args": {
            "owner": spec.owner,
            "retries": spec.retries,
            "retry_delay": spec.retry_delay,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30),
            "on_failure_callback": _record_failure(spec),
        },
    }


def _schedule(spec: FlowSpec | SyncSpec) -> Any:
    """Cron (the reconciliation poll), the flow's event asset, or both (``events/asset.py``)."""
    from syncgate.events.asset import schedule

    return schedule(spec)


def _pool(name: str | None) -> dict[str, Any]:
    """Flows calling one API share its Airflow pool (``pool``, default ``syncgate_<conn_id>``)."""
    return {"pool": name} if name else {}


def _batch(spec: FlowSpec, value: Any, stage: str) -> Any:
    from syncgate.batch.contract import Batch
    from syncgate.redact import register_flow

    register_flow(spec)  # before the stage connects: what it raises or logs is redacted
    return Batch.from_xcom(value, flow_id=spec.id, stage=stage)


def _run(spec: FlowSpec | SyncSpec, context: Any) -> Any:
    from syncgate.batch.run import RunInfo
    from syncgate.redact import register_flow

    register_flow(spec)  # before the stage connects: what it raises or logs is redacted
    return RunInfo.from_airflow(spec.id, context)


def _lease(spec: FlowSpec | SyncSpec, context: Any) -> tuple[str, str, str]:
    """What the stage's heartbeat renews: the run's lease in its flow's state database (a sync
    flow's side tasks, running at once, renew the one lease of their run)."""
    return spec.state_conn_id, spec.id, context["dag_run"].run_id


def _stage(body: Any, context: Any = None, *, lease: tuple[str, str, str] | None = None) -> Any:
    """Run a stage; the error's class decides whether Airflow retries the task (``errors.py``).

    With ``lease`` (state connection, flow id, run id) the run's lease is renewed while the
    stage works (``state/leases.py``): a run whose task is killed is found dead by the next.

    A ``RetriableError`` propagates and the task's retries apply; any other ``SyncgateError``
    (``FatalError`` and below) fails the task at once. An error from outside syncgate (a bug, a
    library's own error) keeps Airflow's retries, except PostgreSQL's data errors.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from syncgate.redact import redact, redact_exception

    try:
        if lease is None:
            return body()
        from syncgate.state.leases import heartbeat

        with heartbeat(*lease):
            return body()
    except RetriableError as exc:
        # Whatever an error quotes (an API's body echoing a token) is redacted before Airflow
        # logs it, chained errors included: the traceback prints each one's message.
        redact_exception(exc)
        raise
    except DataQualityError as exc:
        redact_exception(exc)
        if context is not None:
            context["ti"].xcom_push(
                key="quality", value={"success": False, "failures": exc.failures, "report": exc.report}
            )
        raise AirflowFailException(redact(str(exc))) from exc
    except SyncgateError as exc:
        raise AirflowFailException(redact(str(redact_exception(exc)))) from exc
    except Exception as exc:
        if _is_data_error(exc):
            from syncgate.errors_text import describe_database_error

            # PostgreSQL quotes the offending row or value (possibly PII): neither the task log
            # nor the audit row may keep it, and a retry cannot fix the data.
            raise AirflowFailException(describe_database_error(exc)) from None
        redact_exception(exc)
        raise


def _skip_if_superseded(spec: FlowSpec, context: Any, asset: Any) -> None:
    """End a superseded promote skipped: it wrote nothing, so it must not announce the target.

    Airflow records the outlet's asset event when promote succeeds, and none when it is
    skipped; a skipped last task still leaves the run successful. A promote that finds its
    batch already promoted (a retry, a cleared task) succeeds and announces it: the target did
    change in this run, and the attempt that changed it may have ended before Airflow recorded
    anything.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from syncgate.pipeline.promote import superseded

    if _stage(lambda: superseded(spec, context["dag_run"].run_id)):
        raise AirflowSkipException(
            f"superseded: a newer batch of flow {spec.id!r} (promoted, or already pushing to the API) "
            f"carries this batch's changes; nothing was written, so no asset event for {asset.uri}"
        )


def _is_data_error(exc: Exception) -> bool:
    if not type(exc).__module__.startswith("psycopg"):
        return False
    from psycopg import errors

    return isinstance(exc, (errors.DataError, errors.IntegrityError))


def _record_failure(spec: FlowSpec | SyncSpec) -> Any:
    def callback(context: Any) -> None:
        """Mark the run failed in the audit trail (a rejected run keeps its verdict)."""
        from syncgate.db.connect import connect
        from syncgate.errors_text import safe_error_text
        from syncgate.redact import register_flow
        from syncgate.state.schema import ensure_state_schema

        register_flow(spec)  # safe_error_text redacts with every secret of the flow's connections
        message = f"{context['ti'].task_id}: {safe_error_text(context.get('exception'))}"
        rejected = False
        try:
            with connect(spec.state_conn_id) as conn:
                ensure_state_schema(conn)
                # A run failing before extract wrote its audit row still counts as a failed run
                # (failure alerts and the health view rely on it).
                conn.execute(
                    "INSERT INTO syncgate.sync_runs (flow_id, run_id, run_type, status, error, finished_at, "
                    "triggered_by, trigger_events) VALUES (%s, %s, %s, 'failed', %s, now(), %s, %s) "
                    "ON CONFLICT (flow_id, run_id) DO UPDATE "
                    "SET status = 'failed', error = EXCLUDED.error, finished_at = now() "
                    "WHERE syncgate.sync_runs.status = 'running'",
                    (spec.id, context["dag_run"].run_id, _run_type(context), message, *_triggered(context)),
                )
                rejected = _is_rejected(conn, spec.id, context["dag_run"].run_id)
                conn.commit()
        except Exception:  # the audit must never mask the task's own failure
            log.exception("Could not record the failure of flow %s in the audit trail", spec.id)
        if not rejected:  # verify wrote the report of a rejected batch, with its full GX result
            from syncgate.report.write import write_failure_report

            write_failure_report(spec, context, message)
        _alert_now(spec)

    return callback


def _run_type(context: Any) -> str | None:
    run_type = getattr(context["dag_run"], "run_type", None)
    return str(getattr(run_type, "value", run_type)) if run_type is not None else None


def _triggered(context: Any) -> tuple[str | None, int]:
    """What started the failed run (``batch/run.py``), as its audit row records it."""
    from syncgate.batch.run import triggered

    try:
        return triggered(_run_type(context) or "", context.get("triggering_asset_events"))
    except Exception:  # the audit must never mask the task's own failure
        log.exception("Could not read the triggering events of a failed run")
        return None, 0


def _is_rejected(conn: Any, flow_id: str, run_id: str) -> bool:
    row = conn.execute(
        "SELECT status FROM syncgate.sync_runs WHERE flow_id = %s AND run_id = %s", (flow_id, run_id)
    ).fetchone()
    return bool(row and row[0] == "rejected")


def _target_asset(spec: FlowSpec, asset_class: Any) -> Any:
    """The promote task's outlet: what the target calls the data it holds."""
    from syncgate.connectors.registry import target_for

    ref = target_for(spec).asset(spec)
    return asset_class(name=ref.name, uri=ref.uri, group="syncgate")


def _alert_now(spec: FlowSpec | SyncSpec) -> None:
    """Evaluate the flow's alert rules right after it failed (the monitor DAG catches the rest)."""
    try:
        from syncgate.observe.monitor import check_flow

        check_flow(spec)
    except Exception:  # alerting must never mask the task's own failure
        log.exception("Could not evaluate the alert rules of flow %s after its failure", spec.id)


def _doc_md(spec: FlowSpec, path: Path) -> str:
    shown = _spec_yaml(spec.model_dump(mode="json", exclude_defaults=True), path)
    return (
        f"## {spec.id}\n\n{spec.description}\n\n"
        "**Shape:** extract → transform → load (staging) → verify (Great Expectations) → promote.\n"
        "Only a passing quality gate promotes the batch; the watermark moves with the data.\n\n"
        f"{_target_doc(spec)}\n\n"
        f"**Spec file:** `{path.name}`\n\n```yaml\n{shown}```\n"
    )


def _spec_yaml(data: dict[str, Any], path: Path) -> str:
    """The validated spec as YAML for the DAG's docs, cut at ``DOC_SPEC_MAX_CHARS``.

    The loader bounds how many values a spec has (``spec/bounded_yaml.py``); libyaml's emitter
    keeps rendering them cheap, and the cut keeps every parse's serialised DAG small.
    """
    shown = yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    if len(shown) <= DOC_SPEC_MAX_CHARS:
        return shown
    return f"{shown[:DOC_SPEC_MAX_CHARS]}\n# ... cut at {DOC_SPEC_MAX_CHARS:,} characters: the whole spec is {path.name}\n"


def _target_doc(spec: FlowSpec) -> str:
    from syncgate.connectors.registry import target_for

    return target_for(spec).describe(spec)


def _invalid_specs_placeholder(broken: list[LoadedSpec]) -> DAG:
    return failing_placeholder(
        INVALID_SPECS_DAG_ID, [item.error for item in broken if item.error is not None]
    )


def failing_placeholder(dag_id: str, errors: list[SpecError]) -> DAG:
    """A DAG that Airflow never bags: its validation raises, so Airflow records a DAG import error
    listing ``errors`` while the other DAGs of the same file still load."""
    from airflow.sdk import DAG

    class InvalidSpecs(DAG):  # type: ignore[misc]
        """Never bagged: its validation raises so Airflow records a DAG import error."""

        def validate(self) -> None:
            raise SpecError(
                ", ".join(e.path for e in errors),
                [line for e in errors for line in [f"{e.path}:", *e.problems]],
            )

    for error in errors:
        log.error("%s", error)
    return InvalidSpecs(dag_id=dag_id, schedule=None)
