"""The connector boundary: what the stages ask of a source and of a target.

A connector is one system type (``postgres``, ``http``, ...): its spec models, a source and a
target implementing the two protocols below, registered under the spec's ``type``
(``syncgate.connectors.registry``). The stages call these methods and never ask which type
they hold, so adding a system type is one new package and its registration.

The batch travels between them in the landing area (Parquet) and the staging schema of the
flow's state database; ``Batch`` (``syncgate.batch.contract``) says where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.contract import Batch, Columns
    from syncgate.batch.run import RunInfo
    from syncgate.batch.window import Window
    from syncgate.db.identifiers import TableRef
    from syncgate.spec.fields import SourceSpec, TargetSpec
    from syncgate.spec.model import FlowSpec
    from syncgate.state.watermarks import Watermark


@dataclass(frozen=True)
class ReadRequest:
    """What one extract asks of a source."""

    flow: FlowSpec
    run: RunInfo
    window: Window
    mark: Watermark
    # Columns the target already has, by source field name (a source inferring types uses them).
    target_columns: dict[str, str]
    # Land the source's whole key set too (``deletes: hard`` on an incremental run).
    with_key_set: bool


@dataclass
class SourceRead:
    """What a source landed for one extract."""

    batch_id: str
    files: dict[str, str]  # ``data``, and ``keys`` when the key set was asked for
    columns: Columns
    rows: int
    bytes: int
    # The newest cursor value read and the keys of the rows at it, or None (nothing new).
    next_watermark: dict[str, Any] | None
    fields_unselected: list[str] = field(default_factory=list)
    adds_columns: bool = False
    # Extra audit-row values this source measures (wire bytes, rejects, schema changes).
    audit: dict[str, Any] = field(default_factory=dict)
    # Runs in the transaction that records the run's start; returns an error that fails the
    # run (e.g. too many rejected records), or None.
    record: Callable[[psycopg.Connection[Any]], str | None] | None = None
    # Called once the run's start is committed (e.g. drops a resumable checkpoint).
    finish: Callable[[], None] | None = None


@runtime_checkable
class Source(Protocol):
    """A system the flow reads from."""

    @property
    def spec(self) -> SourceSpec:
        """The source's part of the flow spec."""
        ...

    @property
    def libraries(self) -> tuple[str, ...]:
        """Modules its reads import, loaded before the stage's timer starts (library start-up)."""
        ...

    @property
    def lands_postgres_text(self) -> bool:
        """True when landed text values are PostgreSQL's own output for their type, so load
        may send them in binary without re-parsing."""
        ...

    def plan_window(self, flow: FlowSpec, run: RunInfo, mark: Watermark) -> Window:
        """The slice of the source this run reads, from the committed watermark."""
        ...

    def read(self, request: ReadRequest) -> SourceRead:
        """Land the window (and the key set, when asked) as Parquet, with the next watermark.

        Everything one read returns comes from one consistent view of the source. Columns that
        ``transform.hash`` names land as keyed-hash digests (``syncgate.hashing``), never in clear.
        """
        ...

    def current_schema(self, flow: FlowSpec) -> Columns:
        """The columns the source offers now: (name, PostgreSQL type)."""
        ...


@runtime_checkable
class ConfirmsReads(Protocol):
    """A source that must confirm what it read once the batch is promoted (a replication slot
    keeps its changes until then). Optional: sources without it need nothing after promote."""

    def promoted(self, flow: FlowSpec, batch: Batch) -> None:
        """Called after promote committed ``batch`` and its watermark (and again on a retried
        promote of an applied batch): confirm up to ``batch.watermark_after``. Must not raise
        for a failure the next run can repair."""
        ...


@dataclass(frozen=True)
class AssetRef:
    """The Airflow Asset a target's promote updates."""

    name: str
    uri: str


@runtime_checkable
class Target(Protocol):
    """A system the flow writes to."""

    @property
    def spec(self) -> TargetSpec:
        """The target's part of the flow spec."""
        ...

    @property
    def libraries(self) -> tuple[str, ...]:
        """Modules its apply imports, loaded before the stage's timer starts."""
        ...

    @property
    def applies_atomically(self) -> bool:
        """True when ``apply`` writes a batch and its watermark in one transaction, so two runs
        of an event-driven flow may be in flight (``dag_factory.max_active_runs``). A target
        without it (an API, written call by call) gets one run at a time."""
        ...

    def asset(self, flow: FlowSpec) -> AssetRef:
        """The Airflow Asset the promote task updates."""
        ...

    def describe(self, flow: FlowSpec) -> str:
        """One Markdown paragraph for the DAG's docs: where the data goes and how."""
        ...

    def column_types(self, conn: psycopg.Connection[Any], flow: FlowSpec) -> dict[str, str]:
        """Columns the target already has (name -> PostgreSQL type); empty when it has none."""
        ...

    def adopts_staging(self, conn: psycopg.Connection[Any], flow: FlowSpec, batch: Batch) -> bool:
        """True when promote will turn the staged table into the target (stage it WAL-logged)."""
        ...

    def apply(self, flow: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int]:
        """Plan the verified batch's changes and apply them, moving the watermark with them.

        Runs its writes inside ``syncgate.batch.settle`` (``apply_once``, or its pieces), which
        refuses a batch the quality gate did not pass as it is, skips one already applied and
        settles the watermark and the audit row. Returns ``rows_inserted``, ``rows_updated``
        and ``rows_deleted``.
        """
        ...

    def freshness_table(self, flow: FlowSpec) -> TableRef | None:
        """The table (on the state or target database) whose newest value dates the target,
        or None when only the audit's recorded high-water mark can tell."""
        ...


@dataclass(frozen=True)
class RecordWrite:
    """One record a two-way or multi-way flow writes to a side, in the side's columns and values."""

    op: Literal["insert", "update", "delete"]
    key: dict[str, Any] | None  # the side's primary key values; None: the side mints them (insert)
    values: dict[str, Any]  # column -> value: every synced column of the record (empty: delete)
    changed: tuple[str, ...] = ()  # columns whose value the side does not hold yet
    # An insert without a key: the record's match columns, so a side that can look them up adopts
    # a record an earlier, interrupted apply already created instead of creating it twice.
    match: dict[str, Any] | None = None


@dataclass(frozen=True)
class RecordResult:
    """What one ``RecordWrite`` did."""

    # False: the record changed on the side after this run read it, so it was left alone (the
    # next run reads that change and merges it instead of overwriting it).
    applied: bool
    key: dict[str, Any] | None = None  # the side's key of the record (minted by an insert)
    row: dict[str, Any] | None = None  # the record as the side now holds it, when it says


@runtime_checkable
class RecordWriter(Protocol):
    """A target that can also be a side of a sync flow: it writes single records by key."""

    def write_records(
        self, flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None
    ) -> list[RecordResult]:
        """Apply ``writes`` in order; one result per write.

        ``flow`` is the side's one-way view (its source and target are the side). A record whose
        change clock (the source's cursor) is past ``read_until``, the newest value this run
        read, changed after the read: it is not written (``applied=False``). Inserting an
        existing key updates it and deleting a missing one does nothing, so a retried apply
        is safe.
        """
        ...


@dataclass(frozen=True)
class Connector:
    """One system type: its spec models and the factories of its source and target."""

    type_name: str  # the spec's ``type``
    source_spec: type[SourceSpec] | None
    target_spec: type[TargetSpec] | None
    source: Callable[[Any], Source] | None
    target: Callable[[Any], Target] | None
