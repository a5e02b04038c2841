"""syncgate's own schemas are never a flow's source or target.

syncgate keeps its state (``syncgate``: watermarks, audit trail, verdicts, sync bases), its
staging tables (``syncgate_staging``) and HTTP targets' mirrors (``syncgate_mirror``) in every
target database. A flow writing there could move another flow's watermark or forge a verdict;
one reading there could copy the audit trail elsewhere. So every schema called ``syncgate`` or
``syncgate_<anything>`` is reserved - the prefix also covers schemas syncgate adds later - in
any letter case: the engine quotes identifiers, so ``SyncGate`` would be a schema of its own in
PostgreSQL, but a name that reads as syncgate's is refused rather than trusted to differ.

A ``table:`` is always schema-qualified by the engine (``public`` when the spec names none, never
the connection's search_path), so checking its schema is complete. A ``query:`` is SQL: its
schema-qualified names are checked here, lexically (comments, string literals and quoting
understood); what only the database can resolve (names through the search_path, views) is
checked when the query runs (``connectors/postgres/reserved.py``).
"""

from __future__ import annotations

import re

# Every schema syncgate creates must match (tests/unit/spec/test_reserved_schemas.py reads them
# from the code).
_RESERVED = re.compile(r"^syncgate(_.*)?$", re.IGNORECASE | re.DOTALL)
# A query that sets its own search_path could make an unqualified name resolve into them.
_PATH_CHANGES = frozenset({"set_config", "search_path"})


def is_reserved_schema(schema: str) -> bool:
    """True for ``syncgate`` and ``syncgate_*`` in any letter case."""
    return bool(_RESERVED.match(schema.casefold()))


def check_table(table: str | None) -> str | None:
    """A ``table:`` value, or ``ValueError`` when its schema is one of syncgate's own."""
    if table is None:
        return None
    schema, _, _ = table.rpartition(".")
    if schema and is_reserved_schema(schema):
        raise ValueError(
            f"schema {schema!r} is syncgate's own (state, staging, mirrors: `syncgate` and "
            "`syncgate_*` in any case): a flow may not read or write it"
        )
    return table


def check_query(query: str) -> None:
    """``ValueError`` when a query names one of syncgate's schemas or changes its search_path."""
    tokens = _tokens(query)
    for index, (kind, text) in enumerate(tokens):
        if kind != "ident":
            continue
        qualifies = index + 1 < len(tokens) and tokens[index + 1] == ("punct", ".")
        if qualifies and is_reserved_schema(text):
            raise ValueError(
                f"`query` reads schema {text!r}, which is syncgate's own (state, staging, mirrors): "
                "a flow may not read it"
            )
        if text.casefold() in _PATH_CHANGES:
            raise ValueError("`query` may not change the search_path (set_config / search_path)")
    for kind, text in tokens:
        if kind == "string" and "search_path" in text.casefold():
            raise ValueError("`query` may not change the search_path (set_config / search_path)")


_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


def _tokens(query: str) -> list[tuple[str, str]]:
    """PostgreSQL's lexical structure, as far as names go: ``ident`` (bare names folded to lower
    case, quoted ones exact), ``string`` (a literal's content), ``punct`` (one character).

    A Unicode-escaped identifier (``U&"..."``) is refused: its name is only known after decoding.

    Raises:
        ValueError: an unterminated literal, quoted name or comment, or a ``U&`` identifier.
    """
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif query.startswith("/*", i):
            i = _skip_block_comment(query, i)
        elif query[i : i + 2].lower() == "u&" and query[i + 2 : i + 3] == '"':
            raise ValueError('`query` may not use Unicode-escaped identifiers (U&"...")')
        elif char == '"':
            text, i = _quoted(query, i, '"')
            tokens.append(("ident", text))
        elif char == "'" or (char in "eEbBxXnN" and query[i + 1 : i + 2] == "'"):
            start = i if char == "'" else i + 1
            text, i = _quoted(query, start, "'", backslashes=char in "eE")
            tokens.append(("string", text))
        elif char == "$" and (tag := _DOLLAR_TAG.match(query, i)):
            end = query.find(tag.group(0), tag.end())
            if end < 0:
                raise ValueError("`query` has an unterminated dollar-quoted string")
            tokens.append(("string", query[tag.end() : end]))
            i = end + len(tag.group(0))
        elif word := _WORD.match(query, i):
            tokens.append(("ident", word.group(0).lower()))
            i = word.end()
        else:
            tokens.append(("punct", char))
            i += 1
    return tokens


def _quoted(query: str, start: int, quote: str, backslashes: bool = False) -> tuple[str, int]:
    """The content of a quoted name or literal starting at ``start`` (doubled quotes unescaped)."""
    parts: list[str] = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if backslashes and char == "\\":
            parts.append(query[i : i + 2])
            i += 2
        elif char == quote and query[i + 1 : i + 2] == quote:
            parts.append(quote)
            i += 2
        elif char == quote:
            return "".join(parts), i + 1
        else:
            parts.append(char)
            i += 1
    what = "quoted name" if quote == '"' else "string"
    raise ValueError(f"`query` has an unterminated {what}")


def _skip_block_comment(query: str, start: int) -> int:
    depth, i = 0, start
    while i < len(query):
        if query.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif query.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("`query` has an unterminated comment")
