"""Can a database stage, key and order columns of these types? PostgreSQL's catalog answers.

A flow's columns are staged (``CREATE TABLE``, ``COPY ... FROM`` their text form), keyed (a
PRIMARY KEY, GX's distinct count, merges matching keys with ``=``) and ordered (the cursor's
``max()`` and window bounds). Whether a type allows each is a property of the type in the
database that does it, so it is read from that database's catalog, for every type alike,
never from a list of type names:

- the type must exist there (an enum, domain, composite, range or extension type created in
  the source only does not), and be a real type (not a pseudo-type such as ``record``);
- every base type it is made of (a domain's base, an array's element, a composite's fields, a
  range's subtype) must read its text form back: PostgreSQL refuses any input for a few
  internal types (``pg_node_tree``, ``pg_ndistinct``, ``gtsvector``...), which a probe cast
  shows (SQLSTATE 0A000 whatever the text); only types of the catalog's user-defined and
  internal-use categories are probed, every other category reads its own output back;
- key and cursor columns need a default btree operator class for every part (what PRIMARY
  KEY, ``count(DISTINCT)``, ``max()`` and sorting use): ``point``, ``json``, ``xml``,
  ``txid_snapshot`` or an array or composite holding one have none.

Each problem names the column and its type, so a flow fails before anything is staged with
a message that says what to change.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# For each column type (by position): does it resolve, is a pseudo-type part of it, which of the
# base types it is made of to probe for input, and which of them lack a default btree operator
# class (exactly, or through an implicit binary-coercible cast, as PostgreSQL's own lookup does).
_PARTS = """
WITH RECURSIVE roots(i, root) AS (
    SELECT u.i, pg_catalog.to_regtype(u.name)
    FROM unnest(%(types)s::text[]) WITH ORDINALITY AS u(name, i)
), parts(i, part) AS (
    SELECT i, root FROM roots WHERE root IS NOT NULL
    UNION
    SELECT p.i, c.part
    FROM parts p
    JOIN pg_catalog.pg_type t ON t.oid = p.part
    CROSS JOIN LATERAL (
        SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL
        SELECT t.typelem WHERE t.typtype = 'b' AND t.typelem <> 0 AND t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
        UNION ALL
        SELECT a.atttypid FROM pg_catalog.pg_attribute a
        WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid OR r.rngmultitypid = t.oid
    ) AS c(part)
)
SELECT r.i, r.root IS NOT NULL, coalesce(bool_or(t.typtype = 'p'), false),
       -- Leaves outside the standard categories (U: user-defined and many built-ins, Z: internal
       -- use): the types of the other categories all read their own output back.
       array_agg(DISTINCT pg_catalog.format_type(t.oid, NULL)) FILTER (
           WHERE leaf.is_leaf AND t.typcategory IN ('U', 'Z', 'X')),
       array_agg(DISTINCT pg_catalog.format_type(t.oid, NULL)) FILTER (
           WHERE leaf.is_leaf AND t.typtype = 'b' AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am am ON am.oid = o.opcmethod
               WHERE am.amname = 'btree' AND o.opcdefault
                 AND (o.opcintype = t.oid OR EXISTS (
                     SELECT 1 FROM pg_catalog.pg_cast k
                     WHERE k.castsource = t.oid AND k.casttarget = o.opcintype
                       AND k.castmethod = 'b' AND k.castcontext = 'i')))
       )
FROM roots r
LEFT JOIN parts p ON p.i = r.i
LEFT JOIN pg_catalog.pg_type t ON t.oid = p.part
CROSS JOIN LATERAL (
    -- A base type that is not an array, or a pseudo-type: what a value is ultimately made of.
    -- Arrays are what PostgreSQL treats as arrays (int2vector and oidvector too).
    SELECT t.typtype = 'p' OR (t.typtype = 'b' AND NOT (t.typelem <> 0 AND t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc)) AS is_leaf
) AS leaf
GROUP BY r.i, r.root
ORDER BY r.i
"""


def column_type_problems(
    conn: psycopg.Connection[Any],
    columns: list[tuple[str, str]],
    *,
    keys: Collection[str] = (),
    ordered: Collection[str] = (),
    database: str = "the database",
) -> list[str]:
    """What keeps ``conn``'s database from staging ``columns`` (name, type as format_type prints
    it), keying the ``keys`` columns and ordering the ``ordered`` ones; one line per problem."""
    if not columns:
        return []
    rows = conn.execute(_PARTS, {"types": [t for _, t in columns]}).fetchall()
    refused_input = _refused_input(conn, {leaf for row in rows if not row[2] for leaf in row[3] or ()})
    problems = []
    for (name, pg_type), (_, exists, pseudo, probed, unordered) in zip(columns, rows, strict=True):
        where = f"column {name!r} is of type {pg_type}"
        if not exists:
            problems.append(
                f"{where}, which {database} does not have: create the type there (as in the source), "
                "or cast the column to a built-in type in `source.query` / `transform.cast`"
            )
            continue
        if pseudo:
            problems.append(
                f"{where}, a pseudo-type no table column can have: cast it in `source.query` (e.g. to text)"
            )
            continue
        unreadable = sorted(set(probed or ()) & refused_input)
        if unreadable:
            problems.append(
                f"{where}, whose values PostgreSQL cannot read back from text ({', '.join(unreadable)} "
                "accepts no input): leave the column out (`source.columns`) or cast it in `source.query`"
            )
        role = "primary key" if name in keys else "cursor" if name in ordered else None
        if role and unordered:
            problems.append(
                f"{role} {where}, which has no default btree operator class ({', '.join(sorted(unordered))}): "
                f"it cannot be {'a primary key' if role == 'primary key' else 'ordered'}; choose another "
                f"{role} column, or cast it in `source.query`"
            )
    return problems


def _refused_input(conn: psycopg.Connection[Any], types: set[str]) -> set[str]:
    """The types whose input function refuses every value (SQLSTATE 0A000 on any text)."""
    import psycopg
    from psycopg import sql

    refused = set()
    for pg_type in sorted(types):
        try:
            with conn.transaction():
                # The type name comes from the database's own format_type().
                conn.execute(sql.SQL("SELECT ''::{}").format(sql.SQL(pg_type)))
        except psycopg.errors.FeatureNotSupported:
            refused.add(pg_type)
        except psycopg.Error:
            pass  # '' is simply not a valid value of this type: its input works
    return refused
