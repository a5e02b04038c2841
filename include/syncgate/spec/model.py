"""The flow spec: one YAML file per flow, validated before any DAG is built.

Every model forbids unknown keys so that a typo (``tabel:``) is an error naming the field,
not a silently ignored setting. Specs carry connection ids, never secrets.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from syncgate.spec.alerts import Alerts
from syncgate.spec.durations import parse_duration
from syncgate.spec.expectation_types import KNOWN_EXPECTATION_TYPES

# Plain SQL identifiers only: they are always quoted anyway, this keeps names portable
# across Parquet, GX and PostgreSQL.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]
# At most 40 characters: staging tables are named <id>__<12 hex>__keys within PostgreSQL's 63.
FlowId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
# ``schema.table`` or ``table`` (then ``public``).
TableName = Annotated[str, StringConstraints(pattern=r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")]
# A PostgreSQL type name as written in DDL, e.g. ``numeric(12,2)`` or ``timestamp with time zone``.
# One type name (multi-word only where PostgreSQL has them), no column clauses.
_PG_TYPE = re.compile(
    r"^(double precision|character varying|bit varying|[a-z_][a-z0-9_]*)"
    r"(\(\s*\d+\s*(,\s*\d+\s*)?\))?( with(out)? time zone)?(\[\])?$"
)
PgType = Annotated[str, StringConstraints(pattern=_PG_TYPE.pattern, to_lower=True)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_keys(source: PostgresSource | HttpSource) -> None:
    """Key, cursor and delete settings every source type shares."""
    if source.deletes == "soft" and not source.soft_delete_column:
        raise ValueError("`deletes: soft` needs `soft_delete_column`")
    if source.deletes != "soft" and source.soft_delete_column:
        raise ValueError("`soft_delete_column` only applies with `deletes: soft`")
    if source.deletes != "none" and not source.primary_key:
        raise ValueError(f"`deletes: {source.deletes}` needs `primary_key`")
    if len(set(source.primary_key)) != len(source.primary_key):
        raise ValueError("`primary_key` lists a column twice")
    if source.columns is not None:
        needed = [*source.primary_key, source.cursor, source.soft_delete_column]
        missing = [c for c in needed if c and c not in source.columns]
        if missing:
            raise ValueError(f"`columns` must include {', '.join(missing)}")


class PostgresSource(_Strict):
    """A PostgreSQL table or SELECT query."""

    type: Literal["postgres"]
    conn_id: Name
    table: TableName | None = None
    query: str | None = None
    primary_key: list[Name] = Field(default_factory=list)
    cursor: Name | None = None
    columns: list[Name] | None = None
    deletes: Literal["none", "soft", "hard"] = "none"
    soft_delete_column: Name | None = None

    @model_validator(mode="after")
    def _check(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("`query` must be a single SELECT (or WITH ... SELECT) statement")
        if self.query is not None and ";" in self.query.strip().rstrip(";"):
            raise ValueError("`query` must be a single statement")
        _check_keys(self)
        return self


# A dotted path into a JSON document: ``data.items``, ``address.city``, ``tags.0``.
DottedPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$", max_length=200)
]
QueryParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\[\]-]+$", max_length=100)]

_STYLE_KEYS = {
    "page": {"page_param"},
    "offset": {"offset_param"},
    "token": {"token_path", "token_param"},
    "link": set(),
}


class Pagination(_Strict):
    """How an HTTP list endpoint pages through its records.

    - ``page``: ``page_param`` counts pages from ``first_page`` (default 1);
    - ``offset``: ``offset_param`` counts records already read from 0;
    - ``token``: the next request carries the token found at ``token_path`` of the body as
      ``token_param`` (null, absent or empty = last page);
    - ``link``: follows the RFC 8288 ``Link: <url>; rel="next"`` response header.

    ``size_param`` + ``size`` ask for a page size (any style). Paging stops at an empty page,
    or a page shorter than the longest one seen (so a server capping ``size`` loses nothing).
    """

    style: Literal["page", "offset", "token", "link"]
    page_param: QueryParam | None = None
    first_page: Annotated[int, Field(ge=0)] = 1
    size_param: QueryParam | None = None
    size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    offset_param: QueryParam | None = None
    token_path: DottedPath | None = None
    token_param: QueryParam | None = None

    @model_validator(mode="after")
    def _check(self) -> Pagination:
        needed = _STYLE_KEYS[self.style]
        missing = sorted(k for k in needed if getattr(self, k) is None)
        if missing:
            raise ValueError(f"`style: {self.style}` needs {', '.join(missing)}")
        others = set().union(*_STYLE_KEYS.values()) - needed
        stray = sorted(k for k in others if getattr(self, k) is not None)
        if stray:
            raise ValueError(f"{', '.join(stray)} do(es) not apply to `style: {self.style}`")
        if (self.size_param is None) != (self.size is None):
            raise ValueError("give `size_param` and `size` together")
        return self


class HttpField(_Strict):
    """One column taken from a (nested) record field, with its declared PostgreSQL type."""

    path: DottedPath
    type: PgType | None = None


class Rejects(_Strict):
    """Records that cannot be coerced to their column types go to ``syncgate.rejected_records``.

    By default the run goes on without them (counted in the audit's ``rows_rejected``);
    ``fail_run: true`` fails the run on any reject, ``max_rejected: N`` on more than N.
    """

    fail_run: bool = False
    max_rejected: Annotated[int, Field(ge=0)] | None = None


class HttpRetry(_Strict):
    """Retries of one HTTP request on 429 / 408 / 5xx / connection errors (full-jitter backoff)."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0  # cap of the first retry's wait
    max_backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0


class HttpSource(_Strict):
    """A JSON list endpoint of an HTTP API behind an Airflow HTTP connection.

    ``records`` is the dotted path of the record list in the body (omit when the body is the
    list). Columns are the record's top-level fields, plus ``fields`` (name -> dotted path, or
    ``{path, type}`` with a PostgreSQL type) for nested ones; ``columns`` keeps only the listed
    ones. Undeclared types are inferred from the JSON values (integer -> bigint, number ->
    double precision, boolean, string -> text, object / array -> jsonb) or taken from the
    existing target column. ``cursor_param`` sends the watermark (inclusive, ``>=``).
    """

    type: Literal["http"]
    conn_id: Name
    endpoint: Annotated[str, StringConstraints(pattern=r"^/[^?#\s]*$", max_length=500)]
    records: DottedPath | None = None
    primary_key: list[Name] = Field(default_factory=list)
    cursor: Name | None = None
    cursor_param: QueryParam | None = None
    params: dict[QueryParam, str | int | float | bool] = Field(default_factory=dict)
    columns: list[Name] | None = None
    fields: dict[Name, DottedPath | HttpField] = Field(default_factory=dict)
    max_requests_per_second: Annotated[float, Field(gt=0, le=10_000)] | None = None
    pagination: Pagination | None = None
    # Airflow pool of the extract task, shared by every flow calling this API (default
    # ``syncgate_<conn_id>``). It must exist (``airflow pools set syncgate_crm_api 2 "CRM API"``):
    # Airflow 3.3's scheduler leaves a task of a missing pool "scheduled" forever, with only a
    # scheduler log warning ("Tasks using non-existent pool ... will not be scheduled").
    pool: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=256)] | None = None
    timeout: Duration = timedelta(seconds=30)
    retry: HttpRetry = Field(default_factory=HttpRetry)
    rejects: Rejects = Field(default_factory=Rejects)
    schema_drift: Literal["evolve", "freeze", "discard"] = "evolve"
    deletes: Literal["none", "soft", "hard"] = "none"
    soft_delete_column: Name | None = None

    @model_validator(mode="after")
    def _check(self) -> HttpSource:
        if self.deletes == "hard":
            raise ValueError(
                "`deletes: hard` is not available for HTTP sources: an API list cannot prove a record "
                "is gone; use `deletes: soft` with the API's deleted flag or timestamp"
            )
        _check_keys(self)
        if self.cursor_param and not self.cursor:
            raise ValueError("`cursor_param` needs `cursor` (the record field holding the watermark)")
        reserved = {self.cursor_param} | _pagination_params(self.pagination)
        clash = sorted(p for p in self.params if p in reserved)
        if clash:
            raise ValueError(f"`params` sets {', '.join(clash)}, which paging or the cursor set per request")
        return self

    @property
    def pool_name(self) -> str:
        return self.pool or f"syncgate_{self.conn_id}"

    def field_paths(self) -> dict[str, tuple[str, str | None]]:
        """Declared columns: name -> (dotted path, PostgreSQL type or None)."""
        return {
            name: (f, None) if isinstance(f, str) else (f.path, f.type) for name, f in self.fields.items()
        }


def _pagination_params(pagination: Pagination | None) -> set[str | None]:
    if pagination is None:
        return set()
    return {pagination.page_param, pagination.offset_param, pagination.size_param, pagination.token_param}


class PostgresTarget(_Strict):
    """A PostgreSQL table, created on first run when missing."""

    type: Literal["postgres"]
    conn_id: Name
    table: TableName
    write: Literal["merge", "append", "replace"] = "merge"


# An API path below the connection's base URL: no scheme, host, query or template.
EndpointPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_\-./~]*$", max_length=500)]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+$", max_length=100)]
PoolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=256)]


class PushMethods(_Strict):
    """HTTP method per kind of change (single-record requests)."""

    create: Literal["POST", "PUT"] = "POST"  # POST {endpoint}, or PUT {endpoint}/{id}
    update: Literal["PATCH", "PUT"] = "PATCH"  # PATCH sends the changed fields, PUT the whole record
    delete: Literal["DELETE"] = "DELETE"


class PushBatch(_Strict):
    """Send changes in batches of ``size`` operations to ``endpoint`` instead of one by one."""

    endpoint: EndpointPath
    size: Annotated[int, Field(ge=1, le=10000)] = 500


class PushRejects(_Strict):
    """What a record the API refuses (4xx) does to the run; it is recorded either way."""

    fail_run: bool = True


class HttpTarget(_Strict):
    """An HTTP API receiving the flow's changes (creates, updates, deletes) record by record.

    State, audit, staging and the mirror of what the API accepted live on ``state_conn_id``.
    """

    type: Literal["http"]
    conn_id: Name
    state_conn_id: Name
    endpoint: EndpointPath
    id_field: Name | None = None
    # Only ``merge`` exists for an API; the other values get an explanatory error below.
    write: Literal["merge", "append", "replace"] = "merge"
    methods: PushMethods = Field(default_factory=PushMethods)
    batch: PushBatch | None = None
    idempotency_header: HeaderName | None = "Idempotency-Key"
    max_requests_per_second: Annotated[float, Field(gt=0, le=10000)] | None = None
    fields: list[Name] | None = None
    rejects: PushRejects = Field(default_factory=PushRejects)
    # Airflow pool of the promote (push) task, shared with every flow calling this API.
    pool: PoolName | None = None
    timeout: Duration = timedelta(seconds=30)
    retry: HttpRetry = Field(default_factory=HttpRetry)

    @model_validator(mode="after")
    def _check(self) -> HttpTarget:
        if self.write != "merge":
            raise ValueError(
                f"`write: {self.write}` does not apply to an http target: it pushes creates, updates "
                "and deletes by key (merge semantics); leave `write` out or set it to merge"
            )
        if self.batch is not None and "methods" in self.model_fields_set:
            raise ValueError(
                "`methods` does not apply with `batch`: each batch operation names create, update "
                "or delete itself"
            )
        if self.fields is not None and len(set(self.fields)) != len(self.fields):
            raise ValueError("`fields` lists a column twice")
        if self.fields == []:
            raise ValueError("`fields` is empty: leave it out to send every column")
        if self.batch is not None and self.batch.endpoint == self.endpoint:
            raise ValueError("`batch.endpoint` must differ from `endpoint`")
        return self

    @property
    def pool_name(self) -> str:
        """``pool``, by default ``syncgate_<conn_id>`` (the HTTP sources' convention)."""
        return self.pool or f"syncgate_{self.conn_id}"


class Transform(_Strict):
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


class Expectation(_Strict):
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


class Quality(_Strict):
    """Expectations inline, or a GX suite JSON file relative to the spec file."""

    expectations: list[Expectation] = Field(default_factory=list)
    suite: str | None = None
    result_format: Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY"] = "SUMMARY"
    # Unexpected values shown in reports per failed check: 0 by default (they may be PII).
    sample_unexpected_values: Annotated[int, Field(ge=0, le=100)] = 0


class Freshness(_Strict):
    """Data freshness SLA, measured on the target's newest ``column`` value."""

    column: Name
    max_age: Duration
    warn_age: Duration | None = None


class FlowSpec(_Strict):
    """One source-to-target flow; becomes one Airflow DAG with the same id."""

    id: FlowId
    description: str = ""
    owner: str = "data-platform"
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = None
    start_date: date = date(2024, 1, 1)
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay: Duration = timedelta(seconds=30)
    source: Annotated[PostgresSource | HttpSource, Field(discriminator="type")]
    target: Annotated[PostgresTarget | HttpTarget, Field(discriminator="type")]
    transform: Transform = Field(default_factory=Transform)
    quality: Quality = Field(default_factory=Quality)
    freshness: Freshness | None = None
    # Columns (names after `rename`) whose values must never appear in reports, Data Docs or XCom.
    pii: list[Name] = Field(default_factory=list)
    # Overrides the keys it sets of the flows folder's ``_defaults.yml`` (spec/alerts.py).
    alerts: Alerts | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter  # type: ignore[import-untyped]

        cron = _CRON_PRESETS.get(value.strip(), value.strip())
        if not croniter.is_valid(cron):
            presets = ", ".join(sorted(_CRON_PRESETS))
            raise ValueError(f"{value!r} is not a cron expression or one of {presets}")
        return cron

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
        if isinstance(self.target, HttpTarget):
            self._check_http_target(self.target)
        return self

    def _check_http_target(self, target: HttpTarget) -> None:
        if not self.source.primary_key:
            raise ValueError("`target.type: http` needs `source.primary_key`: changes are pushed by key")
        if target.id_field is None and len(self.source.primary_key) > 1:
            raise ValueError(
                "`target.id_field` is required with a composite primary key (name the column "
                "holding the API's record id)"
            )
        id_field = self.target_id_field
        if id_field in self.transform.hash or id_field in self.transform.drop:
            raise ValueError(f"`target.id_field` {id_field} cannot be hashed or dropped")
        if target.fields is not None and self.target_soft_delete_column in target.fields:
            raise ValueError("`target.fields` cannot send the soft delete column (it marks deletes)")
        if self.freshness is not None and self.freshness.column != self.target_cursor:
            raise ValueError(
                "`freshness.column` of an http target must be the cursor column: the mirror of what the "
                "API accepted (syncgate_mirror.<flow id>) keeps the key and the cursor"
            )
        if self.source.columns is None:
            return
        after = [
            self.transform.output_name(c)
            for c in self.source.columns
            if self.transform.output_name(c) not in self.transform.drop
        ]
        if id_field not in after:
            raise ValueError(
                f"`target.id_field` names unknown column {id_field} (use the names after `rename`)"
            )
        unknown = [c for c in target.fields or [] if c not in after]
        if unknown:
            raise ValueError(
                f"`target.fields` names unknown column(s) {', '.join(unknown)} (use the names after `rename`)"
            )

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
        if isinstance(self.target, HttpTarget):
            return self.target.state_conn_id
        return self.target.conn_id

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
        given = self.target.id_field if isinstance(self.target, HttpTarget) else None
        return given or self.target_primary_key[0]

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
