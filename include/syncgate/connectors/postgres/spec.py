"""Spec models of the PostgreSQL connector: a table or query as source, a table as target."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from syncgate.spec.fields import Name, SourceSpec, TableName, TargetSpec, check_keys
from syncgate.spec.reserved_schemas import check_query


class PostgresSource(SourceSpec):
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
    # ``cursor``: poll rows by the cursor column. ``wal``: read the table's change log from a
    # logical replication slot (``connectors/postgres/cdc``, docs/wal-capture.md).
    capture: Literal["cursor", "wal"] = "cursor"

    @field_validator("query")
    @classmethod
    def _not_syncgates_own(cls, query: str | None) -> str | None:
        if query is not None:
            check_query(query)
        return query

    @model_validator(mode="after")
    def _check(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("`query` must be a single SELECT (or WITH ... SELECT) statement")
        if self.query is not None and ";" in self.query.strip().rstrip(";"):
            raise ValueError("`query` must be a single statement")
        check_keys(self)
        if self.capture == "wal":
            _check_wal(self)
        return self

    @property
    def writable_side(self) -> bool:
        return self.query is None

    @property
    def listens(self) -> bool:
        return True


def _check_wal(source: PostgresSource) -> None:
    """``capture: wal`` reads one table's change log and names rows by their key."""
    if source.query is not None:
        raise ValueError("`capture: wal` reads one table's change log: give `table`, not `query`")
    if not source.primary_key:
        raise ValueError("`capture: wal` needs `primary_key`: the log names changed rows by their key")
    if source.cursor is not None:
        # Refused rather than ignored: a cursor here would suggest a polling window that no
        # longer exists (the log position is the watermark).
        raise ValueError(
            "`capture: wal` needs no `cursor` (the log position is the watermark): remove `cursor`"
        )


class PostgresTarget(TargetSpec):
    """A PostgreSQL table, created on first run when missing."""

    type: Literal["postgres"]
    conn_id: Name
    table: TableName
    write: Literal["merge", "append", "replace"] = "merge"

    def state_connection(self) -> str:
        """State, audit and staging live in the target database itself."""
        return self.conn_id

    @property
    def holds_state(self) -> bool:
        return True
