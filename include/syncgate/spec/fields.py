"""Pieces every spec model shares: identifier types, strict models, the source and target bases.

Connector packages (``syncgate.connectors.<type>.spec``) build their source and target models
from these; ``syncgate.spec.model.FlowSpec`` holds one of each, chosen by ``type``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from syncgate.spec.durations import parse_duration
from syncgate.spec.reserved_schemas import check_table

if TYPE_CHECKING:
    from syncgate.spec.model import FlowSpec

# Plain SQL identifiers only: they are always quoted anyway, this keeps names portable
# across Parquet, GX and PostgreSQL.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)]
# At most 40 characters: staging tables are named <id>__<12 hex>__keys within PostgreSQL's 63.
FlowId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
# ``schema.table`` or ``table`` (then ``public``), never in one of syncgate's own schemas.
TableName = Annotated[
    str,
    StringConstraints(pattern=r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$"),
    AfterValidator(check_table),
]
# A PostgreSQL type name as written in DDL, e.g. ``numeric(12,2)`` or ``timestamp with time zone``.
# One type name (multi-word only where PostgreSQL has them), no column clauses.
_PG_TYPE = re.compile(
    r"^(double precision|character varying|bit varying|[a-z_][a-z0-9_]*)"
    r"(\(\s*\d+\s*(,\s*\d+\s*)?\))?( with(out)? time zone)?(\[\])?$"
)
# PostgreSQL type names are case-insensitive: lower-cased before the pattern, which pydantic's
# ``to_lower`` would only apply after it (``NUMERIC(12,2)`` was refused).
PgType = Annotated[
    str,
    BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value),
    StringConstraints(pattern=_PG_TYPE.pattern),
]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

# An API path below the connection's base URL: no scheme, host, query or template.
EndpointPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_\-./~]*$", max_length=500)]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+$", max_length=100)]
PoolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=256)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(StrictModel):
    """Base of every connector's source model: ``type`` picks the connector."""

    type: str
    conn_id: str
    primary_key: list[str]
    cursor: str | None
    columns: list[str] | None
    deletes: str
    soft_delete_column: str | None

    @property
    def pool_name(self) -> str | None:
        """Airflow pool of the extract task (sources calling a rate-limited service), or None."""
        return None

    @property
    def writable_side(self) -> bool:
        """True when what it reads can also be written (a table, not a query): a sync side."""
        return True

    @property
    def listens(self) -> bool:
        """True when a ``postgres_notify`` trigger can LISTEN on the source's own connection
        (``notify-sql`` then installs the notifying trigger on its ``table``)."""
        return False

    def check_flow(self, flow: FlowSpec) -> None:
        """Flow-wide rules this source adds (raise ``ValueError`` naming the field)."""


class TargetSpec(StrictModel):
    """Base of every connector's target model: ``type`` picks the connector."""

    type: str
    conn_id: str
    write: str
    # Several flows may write one target only in slices they declare (each its own records, e.g.
    # a CRM's partners and its enterprise leads): a target keeps one owner per slice, and a flow
    # without a slice owns the whole target (syncgate.state.target_owners).
    slice: Name | None = None

    def state_connection(self) -> str:
        """The PostgreSQL connection holding the flow's state, audit trail and staging tables."""
        raise NotImplementedError

    @classmethod
    def side_input(cls, keys: dict[str, Any]) -> dict[str, Any]:
        """A sync side's keys of this target model, from the side's one mapping: a connector
        whose source and target share a key name with different shapes adapts it here."""
        return keys

    @property
    def pool_name(self) -> str | None:
        """Airflow pool of the promote task, or None."""
        return None

    @property
    def holds_state(self) -> bool:
        """True when the target's own connection can hold syncgate's state (a PostgreSQL)."""
        return False

    @property
    def record_id_field(self) -> str | None:
        """The column holding the target's own record id, when the target names one."""
        return None

    def check_flow(self, flow: FlowSpec) -> None:
        """Flow-wide rules this target adds (raise ``ValueError`` naming the field)."""


def check_keys(source: Any) -> None:
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
