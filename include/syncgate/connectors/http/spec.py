"""Spec models of the HTTP connector: a JSON list endpoint as source, an API receiving changes as target."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import Field, StringConstraints, model_validator

from syncgate.spec.fields import (
    Duration,
    EndpointPath,
    HeaderName,
    Name,
    PgType,
    PoolName,
    SourceSpec,
    StrictModel,
    TargetSpec,
    check_keys,
)

if TYPE_CHECKING:
    from syncgate.spec.model import FlowSpec


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


class Pagination(StrictModel):
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


class HttpField(StrictModel):
    """One column taken from a (nested) record field, with its declared PostgreSQL type."""

    path: DottedPath
    type: PgType | None = None


class Rejects(StrictModel):
    """Records that cannot be coerced to their column types go to ``syncgate.rejected_records``.

    By default the run goes on without them (counted in the audit's ``rows_rejected``);
    ``fail_run: true`` fails the run on any reject, ``max_rejected: N`` on more than N.
    """

    fail_run: bool = False
    max_rejected: Annotated[int, Field(ge=0)] | None = None


class HttpRetry(StrictModel):
    """Retries of one HTTP request on 429 / 408 / 5xx / connection errors (full-jitter backoff)."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0  # cap of the first retry's wait
    max_backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0


class HttpSource(SourceSpec):
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
        check_keys(self)
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


class PushMethods(StrictModel):
    """HTTP method per kind of change (single-record requests)."""

    create: Literal["POST", "PUT"] = "POST"  # POST {endpoint}, or PUT {endpoint}/{id}
    update: Literal["PATCH", "PUT"] = "PATCH"  # PATCH sends the changed fields, PUT the whole record
    delete: Literal["DELETE"] = "DELETE"


class PushBatch(StrictModel):
    """Send changes in batches of ``size`` operations to ``endpoint`` instead of one by one."""

    endpoint: EndpointPath
    size: Annotated[int, Field(ge=1, le=10000)] = 500


class PushRejects(StrictModel):
    """What a record the API refuses (4xx) does to the run; it is recorded either way."""

    fail_run: bool = True


class HttpTarget(TargetSpec):
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

    def state_connection(self) -> str:
        return self.state_conn_id

    @classmethod
    def side_input(cls, keys: dict[str, Any]) -> dict[str, Any]:
        """On a sync side, `fields` is the source's (name -> path or typed field); the target
        sends every synced column, at those paths."""
        if isinstance(keys.get("fields"), dict):
            return {k: v for k, v in keys.items() if k != "fields"}
        return keys

    @property
    def record_id_field(self) -> str | None:
        return self.id_field

    def check_flow(self, flow: FlowSpec) -> None:
        """Changes are pushed by key: the flow needs one, and the id field must reach the API."""
        if not flow.source.primary_key:
            raise ValueError("`target.type: http` needs `source.primary_key`: changes are pushed by key")
        if self.id_field is None and len(flow.source.primary_key) > 1:
            raise ValueError(
                "`target.id_field` is required with a composite primary key (name the column "
                "holding the API's record id)"
            )
        id_field = flow.target_id_field
        if id_field in flow.transform.hash or id_field in flow.transform.drop:
            raise ValueError(f"`target.id_field` {id_field} cannot be hashed or dropped")
        if self.fields is not None and flow.target_soft_delete_column in self.fields:
            raise ValueError("`target.fields` cannot send the soft delete column (it marks deletes)")
        if flow.freshness is not None and flow.freshness.column != flow.target_cursor:
            raise ValueError(
                "`freshness.column` of an http target must be the cursor column: the mirror of what the "
                "API accepted (syncgate_mirror.<flow id>) keeps the key and the cursor"
            )
        if flow.source.columns is None:
            return
        after = [
            flow.transform.output_name(c)
            for c in flow.source.columns
            if flow.transform.output_name(c) not in flow.transform.drop
        ]
        if id_field not in after:
            raise ValueError(
                f"`target.id_field` names unknown column {id_field} (use the names after `rename`)"
            )
        unknown = [c for c in self.fields or [] if c not in after]
        if unknown:
            raise ValueError(
                f"`target.fields` names unknown column(s) {', '.join(unknown)} (use the names after `rename`)"
            )


def http_target(flow: FlowSpec) -> HttpTarget:
    """The flow's target, which the HTTP target's own modules know to be an HTTP one."""
    return cast(HttpTarget, flow.target)
