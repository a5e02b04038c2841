"""One error hierarchy, split by what the operator (and Airflow) should do about it.

Every error syncgate raises on purpose derives from ``SyncgateError`` and from exactly one of
its two recovery strategies; ``dag_factory._stage`` reads nothing else to decide whether a
task retries (``tests/unit/test_errors.py`` pins each class, and fails on a class that joins
neither side)::

    SyncgateError
    +-- RetriableError                transient: Airflow retries the task (network, lock timeout)
    |   +-- http.client.HttpRetriableError   429 / 408 / 5xx / dropped connection, every attempt
    |   +-- ui.queries.StateUnavailable      the UI cannot reach or read a state database
    |   +-- events.webhook.WebhookSecretsUnavailable  the webhook receiver's secret connection (503)
    +-- FatalError                    a retry cannot fix it: the task fails at once
        +-- SpecError                 configuration: the flow spec is wrong (fix it, then rerun)
        +-- spec.bounded_yaml.SpecTooCostly  a spec file over its size, alias or time bound
        +-- state.target_owners.TargetOwnedError  another flow owns the target (release it first)
        +-- DataQualityError          the quality gate rejected the batch; nothing was promoted
        +-- ConcurrentRunError        another run moved the watermark or holds the flow: this
        |                             run's batch is stale, a retry would be refused the same way
        +-- http.client.HttpStatusError      a 4xx a retry cannot fix (401, 403, 404, 422...)
        +-- http.client.HttpTlsError  the API's TLS certificate was refused (unknown CA, other
        |                             host, expired) or the CA bundle named cannot be read
        +-- http.pagination.PaginationLoopError
        +-- http.drift.SchemaDriftError
        +-- events.webhook.WebhookRefused   a webhook that is not authentic and fresh (401)
        +-- state.migrations.StateSchemaTooNew  a newer syncgate migrated the state schema
        +-- http.coerce.CoerceError   one value its column cannot hold (also a ``ValueError``);
        |                             the extract turns it into a reject, it never ends a task
        +-- (staging.copy_binary._NotEncodable: private; the batch falls back to CSV)

Messages are shown in task logs, the audit trail and alerts: they name flows, tables, columns,
URLs and statuses, never a secret (URLs and bodies are redacted by ``http.client``) nor a
row's values.
"""

from __future__ import annotations

from collections.abc import Sequence


class SyncgateError(Exception):
    """Base class of every error syncgate raises on purpose."""


class RetriableError(SyncgateError):
    """A transient failure: the same task may succeed when retried."""


class FatalError(SyncgateError):
    """A failure that a retry cannot fix; the run fails without retrying."""


class SpecError(FatalError):
    """A flow spec is invalid. The message names the file and the field."""

    def __init__(self, path: str, problems: Sequence[str], what: str = "flow spec") -> None:
        self.path = path
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {what} {path}:\n{listed}")


class DataQualityError(FatalError):
    """The quality gate failed: the staged batch is kept, the target is untouched."""

    def __init__(self, flow_id: str, failures: Sequence[str], report: str | None) -> None:
        self.flow_id = flow_id
        self.failures = list(failures)
        self.report = report
        listed = "\n".join(f"  - {f}" for f in self.failures)
        where = f"\nreport: {report}" if report else ""
        super().__init__(
            f"quality gate rejected the batch of flow {flow_id!r} "
            f"({len(self.failures)} failed check(s)); target and watermark unchanged:\n"
            f"{listed}{where}"
        )


class ConcurrentRunError(FatalError):
    """Another run of the flow moved its watermark since this batch was extracted, or holds the flow.

    Fatal, not retriable: the other run's promote leaves this batch behind a watermark it was not
    planned against, so every back-off retry of the same task would be refused the same way. The
    flow's next run extracts afresh.
    """


class FlowBusyError(RetriableError):
    """Another run of the flow held its read (or a side's write) lock for the whole wait.

    Retriable: the other run is working, not wrong; with two runs of an event-driven flow in
    flight a long read (a first load, a backlog) is expected, and the task's retries wait it out.
    """


class BatchSuperseded(ConcurrentRunError):
    """A newer read of the flow has already promoted: it carries every change of this batch.

    Overlapping runs of an event-driven flow meet this when the later run's promote wins the
    race. The one-way promote settles the run as ``superseded`` (nothing written, not a failure);
    anywhere else it stays a refusal, as its base class.
    """

    def __init__(self, message: str, *, newest: int) -> None:
        super().__init__(message)
        self.newest = newest


class ContractError(FatalError):
    """A stage received no batch, or one of another stage-contract version."""
