"""The flow spec: one YAML file per flow, validated before any DAG is built.

Every model forbids unknown keys so that a typo (``tabel:``) is an error naming the field,
not a silently ignored setting. Specs carry connection ids, never secrets.
"""

from __future__ import annotations

import functools
import importlib
import operator
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from syncgate.spec.alerts import Alerts
from syncgate.spec.expectation_types import KNOWN_EXPECTATION_TYPES
from syncgate.spec.fields import Duration, FlowId, Name, PgType, SourceSpec, StrictModel, TargetSpec

_CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def check_cron(value: str | None) -> str | None:
    """A cron expression (presets expanded), or ``ValueError`` saying what is accepted."""
    if value is None:
        return None
    from croniter import croniter  # type: ignore[import-untyped]

    cron = _CRON_PRESETS.get(value.strip(), value.strip())
    if not croniter.is_valid(cron):
        presets = ", ".join(sorted(_CRON_PRESETS))
        raise ValueError(f"{value!r} is not a cron expression or one of {presets}")
    return cron


class Transform(StrictModel):
    """Declarative, column-wise transform. Applied in this order: rename, cast, map, hash, drop.

    ``cast``, ``map_values``, ``hash`` and ``drop`` name columns after ``rename``.
    """

    rename: dict[Name, Name] = Field(default_factory=dict)
    cast: dict[Name, PgType] = Field(default_factory=dict)
    map_values: dict[Name, dict[str, str | None]] = Field(default_factory=dict)
    hash: list[Name] = Field(default_factory=list)
    drop: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Transform:
        targets = list(self.rename.values())
        if len(set(targets)) != len(targets):
            raise ValueError("`rename` maps two columns to the same name")
        if set(self.hash) & set(self.drop):
            raise ValueError("a column cannot be both hashed and dropped")
        return self

    def output_name(self, column: str) -> str:
        return self.rename.get(column, column)


class Expectation(StrictModel):
    """One GX expectation, in GX's own suite JSON shape."""

    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in KNOWN_EXPECTATION_TYPES:
            raise ValueError(f"unknown Great Expectations expectation type {value!r}")
        return value


class Quality(StrictModel):
    """Expectations inline, or a GX suite JSON file relative to the spec file."""

    expectations: list[Expectation] = Field(default_factory=list)
    suite: str | None = None
    result_format: Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY"] = "SUMMARY"
    # Unexpected values shown in reports per failed check: 0 by default (they may be PII).
    sample_unexpected_values: Annotated[int, Field(ge=0, le=100)] = 0


class Freshness(StrictModel):
    """Data freshness SLA, measured on the target's newest ``column`` value."""

    column: Name
    max_age: Duration
    warn_age: Duration | None = None


class FlowSpec(StrictModel):
    """One source-to-target flow; becomes one Airflow DAG with the same id."""

    id: FlowId
    description: str = ""
    owner: str = "data-platform"
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = None
    start_date: date = date(2024, 1, 1)
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay: Duration = timedelta(seconds=30)
    # Narrowed at run time to the union of the registered connectors' models (``register_connector``).
    source: SourceSpec
    target: TargetSpec
    transform: Transform = Field(default_factory=Transform)
    quality: Quality = Field(default_factory=Quality)
    freshness: Freshness | None = None
    # Columns (names after `rename`) whose values must never appear in reports, Data Docs or XCom.
    pii: list[Name] = Field(default_factory=list)
    # Overrides the keys it sets of the flows folder's ``_defaults.yml`` (spec/alerts.py).
    alerts: Alerts | None = None
    # PLACEHOLDER until the events helper's spec/triggers.py merges (take theirs on conflict).
    triggers: list[dict[str, Any]] = Field(default_factory=list)

    # Every way in loads the connectors first: the source and target unions are built from them.
    def __init__(self, /, **data: Any) -> None:
        load_builtin_connectors()
        super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> FlowSpec:  # type: ignore[override]
        load_builtin_connectors()
        return super().model_validate(obj, *args, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> FlowSpec:  # type: ignore[override]
        load_builtin_connectors()
        return super().model_validate_json(json_data, *args, **kwargs)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @model_validator(mode="after")
    def _check(self) -> FlowSpec:
        if self.target.write == "merge" and not self.source.primary_key:
            raise ValueError("`target.write: merge` needs `source.primary_key`")
        if self.target.write == "replace" and self.source.cursor:
            raise ValueError(
                "`target.write: replace` rewrites the whole target from each batch: it cannot be "
                "combined with an incremental `source.cursor` (use merge, or drop the cursor)"
            )
        compared = {*self.target_primary_key, self.target_cursor, self.target_soft_delete_column} - {None}
        reshaped = compared & (set(self.transform.hash) | set(self.transform.map_values))
        if reshaped:
            raise ValueError(
                f"column(s) {', '.join(sorted(str(c) for c in reshaped))} cannot be hashed or value-mapped: "
                "the flow compares primary key, cursor and soft delete values with the source's"
            )
        both = set(self.transform.hash) & set(self.transform.map_values)
        if both:
            raise ValueError(f"column(s) {', '.join(sorted(both))} cannot be both hashed and value-mapped")
        protected = {*self.source.primary_key, self.source.cursor, self.source.soft_delete_column}
        renamed_protected = {self.transform.output_name(c) for c in protected if c}
        dropped = renamed_protected & set(self.transform.drop)
        if dropped:
            raise ValueError(
                f"`transform.drop` removes {', '.join(sorted(dropped))}, which the flow needs "
                "(primary key, cursor or soft delete column)"
            )
        if self.source.columns is not None:
            self.check_column_names(self.source.columns)
        self.source.check_flow(self)
        self.target.check_flow(self)
        return self

    def check_column_names(self, columns: list[str]) -> None:
        """Raise ``ValueError`` when transform or ``pii`` keys name a column not in ``columns``.

        Checked at validation time when the source lists its columns, else by extract against
        the real ones: a misspelt ``hash`` or ``pii`` name must never leave a column unprotected.
        """
        unknown = [c for c in self.transform.rename if c not in columns]
        if unknown:
            raise ValueError(f"`transform.rename` names unknown column(s) {', '.join(unknown)}")
        after = {self.transform.output_name(c) for c in columns}
        for key in ("cast", "map_values", "hash", "drop"):
            named = getattr(self.transform, key)
            unknown = [c for c in named if c not in after]
            if unknown:
                raise ValueError(
                    f"`transform.{key}` names unknown column(s) {', '.join(unknown)} "
                    "(use the names after `rename`)"
                )
        unknown = [c for c in self.pii if c not in after]
        if unknown:
            raise ValueError(
                f"`pii` names unknown column(s) {', '.join(unknown)} (use the names after `rename`)"
            )

    @property
    def state_conn_id(self) -> str:
        """The PostgreSQL connection holding this flow's state, audit trail and staging tables."""
        return self.target.state_connection()

    @property
    def pii_columns(self) -> list[str]:
        """Columns whose values never leave the flow in clear: ``pii`` plus hashed columns."""
        return sorted({*self.pii, *self.transform.hash})

    @property
    def pii_names(self) -> frozenset[str]:
        """``pii_columns`` under their target and their source names (before ``rename``)."""
        pii = set(self.pii_columns)
        return frozenset(pii | {src for src, out in self.transform.rename.items() if out in pii})

    @property
    def target_id_field(self) -> str:
        """HTTP targets: the column holding the API's record id (default: the primary key)."""
        return self.target.record_id_field or self.target_primary_key[0]

    @property
    def target_primary_key(self) -> list[str]:
        return [self.transform.output_name(c) for c in self.source.primary_key]

    @property
    def target_cursor(self) -> str | None:
        cursor = self.source.cursor
        return self.transform.output_name(cursor) if cursor else None

    @property
    def target_soft_delete_column(self) -> str | None:
        column = self.source.soft_delete_column
        return self.transform.output_name(column) if column else None


# The source and target models of every registered connector, by ``type``.
_SOURCE_MODELS: dict[str, type[SourceSpec]] = {}
_TARGET_MODELS: dict[str, type[TargetSpec]] = {}


def register_connector_models(
    type_name: str, source: type[SourceSpec] | None, target: type[TargetSpec] | None
) -> None:
    """Make ``type: <type_name>`` valid for ``source`` / ``target`` of every flow spec.

    ``FlowSpec``'s two fields become discriminated unions of the registered models, so a spec
    error names the connector's own field (``source.http.endpoint``) as it always did.
    """
    if source is not None:
        _SOURCE_MODELS[type_name] = source
    if target is not None:
        _TARGET_MODELS[type_name] = target
    _rebuild_unions()


def unregister_connector_models(type_name: str) -> None:
    """Make ``type: <type_name>`` invalid again (a test's connector leaves no trace in later specs)."""
    _SOURCE_MODELS.pop(type_name, None)
    _TARGET_MODELS.pop(type_name, None)
    _rebuild_unions()


def _rebuild_unions() -> None:
    models: dict[str, dict[str, Any]] = {"source": dict(_SOURCE_MODELS), "target": dict(_TARGET_MODELS)}
    for field, registered in models.items():
        if registered:
            union: Any = functools.reduce(operator.or_, registered.values())
            annotation: Any = Annotated[union, Field(discriminator="type")]
            FlowSpec.model_fields[field].annotation = annotation
    FlowSpec.model_rebuild(force=True)


def side_models(type_name: str) -> tuple[type[SourceSpec], type[TargetSpec]] | None:
    """The source and target models of a connector that can be a side of a sync flow."""
    load_builtin_connectors()
    source, target = _SOURCE_MODELS.get(type_name), _TARGET_MODELS.get(type_name)
    return (source, target) if source is not None and target is not None else None


def connector_types() -> frozenset[str]:
    """Every registered connector's ``type`` (as source or target)."""
    return frozenset(_SOURCE_MODELS) | frozenset(_TARGET_MODELS)


def load_builtin_connectors() -> None:
    """Register the connectors syncgate ships, once: specs can be validated without the engine.

    Imported by name (a plugin discovery, like Airflow's providers): the connectors import the
    spec models, never the other way round.
    """
    if not _SOURCE_MODELS:
        importlib.import_module("syncgate.connectors")
