"""Table names from specs, always rendered as quoted identifiers, never as raw SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql


@dataclass(frozen=True)
class TableRef:
    """A ``schema.table`` pair."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, default_schema: str = "public") -> TableRef:
        schema, _, name = text.rpartition(".")
        return cls(schema or default_schema, name)

    @property
    def sql(self) -> sql.Identifier:
        from psycopg import sql

        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def ident_list(names: list[str]) -> sql.Composed:
    """``"a", "b", "c"`` for a column list."""
    from psycopg import sql

    return sql.SQL(", ").join(sql.Identifier(n) for n in names)
