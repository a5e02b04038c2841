"""The columns each shipped flow's source offers, read without any server.

PostgreSQL sources read the demo ERP (``include/demo/erp_schema.sql``): its ``CREATE TABLE``
statements are parsed here, and a ``query`` source's columns are the output names of its
SELECT list. HTTP sources read the demo CRM, whose records come from the deterministic
generator in ``include/demo/crm/records.py``. The parsers are deliberately small: anything they
do not understand fails the contract test with a message, rather than being guessed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ERP_SCHEMA = REPO / "include" / "demo" / "erp_schema.sql"

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_TABLE = re.compile(
    rf"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)\s*\(",
    re.IGNORECASE,
)
# Table elements that are not columns.
_CONSTRAINT_WORDS = {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}


class UnparsedSql(ValueError):
    """SQL these small parsers do not understand (extend them, do not guess)."""


def _strip_comments(sql: str) -> str:
    """``sql`` with ``--`` and ``/* */`` comments blanked, quoted text left as is."""
    out, i, n = [], 0, len(sql)
    while i < n:
        two = sql[i : i + 2]
        if two == "--":
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif two == "/*":
            end = sql.find("*/", i + 2)
            if end < 0:
                raise UnparsedSql("unterminated /* comment")
            out.append(" ")
            i = end + 2
        elif sql[i] in "'\"":
            end = _quote_end(sql, i)
            out.append(sql[i:end])
            i = end
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def _quote_end(sql: str, start: int) -> int:
    """Index just past the quoted literal or identifier opening at ``start`` (doubled quotes escape)."""
    quote, i = sql[start], start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            raise UnparsedSql(f"unterminated {quote} quote")
        if sql[end + 1 : end + 2] == quote:
            i = end + 2
            continue
        return end + 1


def _split_top_level(text: str, start: int = 0) -> tuple[list[str], int]:
    """Comma-separated items from ``start`` up to the ``)`` closing depth 0 (or the end).

    Returns the items and the index of that closing parenthesis (``len(text)`` at the end).
    """
    items, depth, i, begin = [], 0, start, start
    while i < len(text):
        char = text[i]
        if char in "'\"":
            i = _quote_end(text, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                items.append(text[begin:i].strip())
                return items, i
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    items.append(text[begin:].strip())
    return items, len(text)


def _name(identifier: str) -> str:
    """An identifier as PostgreSQL stores it: quoted verbatim, unquoted folded to lower case."""
    identifier = identifier.strip()
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _qualified(name: str) -> str:
    parts = [_name(p) for p in re.findall(_IDENT, name)]
    return ".".join(parts if len(parts) == 2 else ["public", *parts])


def schema_tables(sql: str) -> dict[str, list[str]]:
    """``schema.table`` -> its column names, in order, for every CREATE TABLE in ``sql``."""
    sql = _strip_comments(sql)
    tables: dict[str, list[str]] = {}
    for match in _CREATE_TABLE.finditer(sql):
        elements, end = _split_top_level(sql, match.end())
        if end == len(sql):
            raise UnparsedSql(f"CREATE TABLE {match['name']}: no closing parenthesis")
        columns = []
        for element in elements:
            first = re.match(_IDENT, element)
            if first is None:
                raise UnparsedSql(f"CREATE TABLE {match['name']}: cannot read element {element!r}")
            if not first[0].startswith('"') and first[0].lower() in _CONSTRAINT_WORDS:
                continue
            columns.append(_name(first[0]))
        tables[_qualified(match["name"])] = columns
    return tables


def erp_tables() -> dict[str, list[str]]:
    """The demo ERP's tables and their columns."""
    return schema_tables(ERP_SCHEMA.read_text(encoding="utf-8"))


_CREATE_VIEW = re.compile(
    rf"\bCREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)\s+AS\s+"
    r"(?P<query>SELECT\b.*?)(?:\s+WITH\s+(?:CASCADED\s+|LOCAL\s+)?CHECK\s+OPTION)?\s*;",
    re.IGNORECASE | re.DOTALL,
)


def erp_views() -> dict[str, list[str]]:
    """The demo ERP's views (``CREATE VIEW ... AS SELECT``) and their columns."""
    sql = _strip_comments(ERP_SCHEMA.read_text(encoding="utf-8"))
    tables = erp_tables()
    return {
        _qualified(match["name"]): select_output_columns(match["query"], tables)
        for match in _CREATE_VIEW.finditer(sql)
    }


def select_output_columns(query: str, tables: dict[str, list[str]]) -> list[str]:
    """Output column names of a single ``SELECT ... FROM <table> ...`` over ``tables``.

    Each select-list item must be a column (``c``, ``t.c``), ``*``, or carry ``AS name``:
    PostgreSQL's own name for an unaliased expression (``lower``, ``?column?``) is not a
    name a spec should rely on.
    """
    sql = _strip_comments(query).strip()
    head = re.match(r"SELECT\s+(?!DISTINCT\b|ALL\b)", sql, re.IGNORECASE)
    if head is None:
        raise UnparsedSql("only a plain `SELECT <list> FROM <table>` is understood (no WITH / DISTINCT)")
    from_at = _top_level_keyword(sql, "FROM", head.end())
    table = re.match(rf"FROM\s+(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)", sql[from_at:], re.IGNORECASE)
    if table is None:
        raise UnparsedSql("FROM is not followed by a table name")
    name = _qualified(table["name"])
    if name not in tables:
        raise UnparsedSql(f"the query reads {name}, which the demo schema does not define")
    items, _ = _split_top_level(sql[head.end() : from_at])
    columns: list[str] = []
    for item in items:
        alias = re.search(rf"\bAS\s+({_IDENT})\s*$", item, re.IGNORECASE)
        bare = re.fullmatch(rf"(?:{_IDENT}\s*\.\s*)?({_IDENT})", item)
        if alias:
            columns.append(_name(alias[1]))
        elif bare:
            columns.append(_name(bare[1]))
        elif item == "*":
            columns.extend(tables[name])
        else:
            raise UnparsedSql(f"select-list item {item!r} has no `AS name`")
    return columns


def _top_level_keyword(sql: str, word: str, start: int) -> int:
    """Index of ``word`` at parenthesis depth 0, outside quotes, from ``start``."""
    depth, i = 0, start
    pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
    while i < len(sql):
        char = sql[i]
        if char in "'\"":
            i = _quote_end(sql, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and pattern.match(sql, i):
            return i
        i += 1
    raise UnparsedSql(f"no top-level {word}")


def _dig(record: Any, path: str) -> tuple[bool, Any]:
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def crm_records(endpoint: str) -> list[dict[str, Any]]:
    """A sample of the demo CRM's records behind ``endpoint`` (the generator the server uses)."""
    from demo.crm.records import generate_contacts, generate_customers

    generators = {
        "/v1/customers": lambda: generate_customers(200, seed=42),
        "/v1/contacts": lambda: generate_contacts(200, customers=200, seed=42),
    }
    if endpoint not in generators:
        raise UnparsedSql(f"the demo CRM serves no list at {endpoint}")
    return generators[endpoint]()


def http_columns(records: list[dict[str, Any]], declared: dict[str, str]) -> tuple[list[str], list[str]]:
    """Columns an HTTP source offers: top-level fields plus declared ``fields`` (name -> dotted path).

    Returns the columns and the declared names whose path no sample record holds.
    """
    columns = list(dict.fromkeys(key for record in records for key in record))
    unreachable = []
    for name, path in declared.items():
        if not any(_dig(record, path)[0] for record in records):
            unreachable.append(name)
        if name not in columns:
            columns.append(name)
    return columns, unreachable
