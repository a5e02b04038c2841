"""One error hierarchy, split by what the operator should do about it.

- ``RetriableError``: transient (network, lock timeout); Airflow retries the task.
- ``FatalError``: retrying cannot help (a bug in the data contract, a missing table).
- ``SpecError``: the flow spec is wrong; raised at parse time and breaks only that DAG.
- ``DataQualityError``: the quality gate rejected the batch; nothing was promoted.
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


class ConcurrentRunError(RetriableError):
    """Another run moved the watermark between this run's extract and promote."""


class ContractError(FatalError):
    """A stage received no batch, or one of another stage-contract version."""
