"""Spec models of the PostgreSQL connector: a table or query as source, a table as target."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from syncgate.spec.fields import Name, SourceSpec, TableName, TargetSpec, check_keys


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

    @model_validator(mode="after")
    def _check(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.I):
            raise ValueError("`query` must be a single SELECT (or WITH ... SELECT) statement")
        if self.query is not None and ";" in self.query.strip().rstrip(";"):
            raise ValueError("`query` must be a single statement")
        check_keys(self)
        return self

    @property
    def writable_side(self) -> bool:
        return self.query is None


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
