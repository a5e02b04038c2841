"""The ``syncgate_freshness_monitor`` DAG: one task that runs the monitor every few minutes.

At parse time it validates the flows folder's defaults file, so a bad one is a DAG import
error naming the file and field; the flows themselves keep syncing (alerts do not gate data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncgate import settings
from syncgate.errors import SpecError
from syncgate.spec.loader import DEFAULTS_FILE, load_defaults

if TYPE_CHECKING:
    from airflow.sdk import DAG

MONITOR_DAG_ID = "syncgate_freshness_monitor"

_DOC = """
## syncgate freshness and alert monitor

Every `{schedule}` (`SYNCGATE_MONITOR_SCHEDULE`), for every flow in `{folder}`:

- measures the target's newest `freshness.column` value and records it in `syncgate.freshness`
  (`checked_by = 'monitor'`), whether or not the flow's own DAG ran;
- raises, re-notifies (at most every `renotify_every`) and resolves incidents in
  `syncgate.incidents`: `freshness`, `failures` (N consecutive failed or rejected runs),
  `lag_spike` and `duration_spike` (k x the median of recent runs).

Notifiers and thresholds: `{defaults}` (`alerts:`), overridden per flow by its own `alerts:` key.

```yaml
{example}
```
"""

_EXAMPLE = """alerts:
  notifiers:
    - {type: webhook, conn_id: alerts_webhook}
    - {type: email, conn_id: alerts_smtp, to: [data-oncall@example.com]}
  renotify_every: 1h
  consecutive_failures: 3
  lag_spike: {factor: 3, window: 20, min_runs: 5, min_seconds: 1m}"""


def build_monitor_dag() -> DAG:
    """The monitor DAG; raises SpecError (an import error) when the defaults file is invalid."""
    from airflow.sdk import DAG, CronTriggerTimetable, task

    folder = settings.flows_dir()
    load_defaults(folder)  # fail at parse time, naming file and field
    schedule = settings.monitor_schedule()
    _check_cron(schedule)
    with DAG(
        dag_id=MONITOR_DAG_ID,
        description="Freshness SLAs, failure and lag alerts for every syncgate flow",
        # A trigger timetable: the monitor checks "now" at each tick, it has no data interval.
        schedule=CronTriggerTimetable(schedule, timezone="UTC"),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=10),
        tags=["syncgate", "monitor"],
        doc_md=_DOC.format(
            schedule=schedule, folder=folder, defaults=folder / DEFAULTS_FILE, example=_EXAMPLE
        ),
        default_args={"owner": "data-platform", "retries": 1, "retry_delay": timedelta(seconds=30)},
    ) as dag:

        @task(task_id="evaluate", multiple_outputs=False)  # one XCom, not one per key
        def evaluate() -> dict[str, Any]:
            from syncgate.observe.monitor import run_monitor

            return run_monitor().as_dict()

        evaluate()
    return dag


def _check_cron(schedule: str) -> None:
    from croniter import croniter  # type: ignore[import-untyped]

    if not croniter.is_valid(schedule):
        raise SpecError("SYNCGATE_MONITOR_SCHEDULE", ["not a cron expression"], what="setting")
