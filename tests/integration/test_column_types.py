"""Every PostgreSQL column type a source can have syncs, or the flow is refused naming the column
and the type. The types come from the catalog of the real server (pg_type), not from a list:
a type this file has no sample values for fails the test until it gets some.

What is tried: every base type of pg_catalog, user-defined enums, domains (over several base
types, with constraints), composite types, ranges and multiranges, arrays of all of those (empty,
holding NULL, two-dimensional), with NULLs and awkward values (NaN, infinities, -0, BC dates,
box/circle pairs of equal area, intervals and numerics that compare equal but print apart).
Proof is PostgreSQL's: the target's text form of every value equals the source's, after a
first load and after a merge that changed every value. Keys: PostgreSQL itself says which types
can be a primary key; those must sync as keys, the others be refused naming column and type.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from helpers import execute, make_spec, rows, sync

from syncgate.errors import FatalError

pytestmark = pytest.mark.integration

# User-defined types, created in the source and (as a target must have them) in the target.
USER_TYPES = [
    "CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'with space, \"quoted\"', 'ünï')",
    "CREATE DOMAIN public.d_posint AS integer CHECK (VALUE > 0)",
    "CREATE DOMAIN public.d_text AS text CHECK (VALUE <> 'forbidden')",
    "CREATE DOMAIN public.d_amount AS numeric(10,2) DEFAULT 0 CHECK (VALUE >= 0)",
    "CREATE DOMAIN public.d_point AS point",
    "CREATE DOMAIN public.d_ints AS integer[] CHECK (cardinality(VALUE) < 10)",
    "CREATE TYPE public.comp AS (p point, t text, m public.mood, n numeric)",
    "CREATE TYPE public.keycomp AS (a integer, b text, m public.mood)",
    "CREATE TYPE public.floatrange AS RANGE (subtype = float8)",
]

# Sample values (SQL expressions) per type name (pg_type.typname). Rows cycle through them and a
# merge moves each row to the next value, so pairs that compare equal but differ sit side by side.
SAMPLES: dict[str, list[str]] = {
    "bool": ["true", "false"],
    "bytea": [r"'\x'", r"'\x00ff'", r"'\xdeadbeef'"],
    "char": ["'a'", "''", "'Z'"],
    "name": ["'abc'", "''", "'with space, \"quote\"'"],
    "int8": ["0", "-9223372036854775808", "9223372036854775807"],
    "int2": ["-32768", "32767", "0"],
    "int4": ["-2147483648", "2147483647", "0"],
    "int2vector": ["'1 2 3'", "''"],
    "oidvector": ["'1 2'", "''"],
    "regproc": ["'now'", "'version'"],
    "regprocedure": ["'now()'", "'abs(integer)'"],
    "regoper": ["'||/'", "'|/'"],
    "regoperator": ["'+(integer,integer)'", "'-(NONE,integer)'"],
    "regclass": ["'pg_class'", "'pg_catalog.pg_type'"],
    "regcollation": ["'\"C\"'", "'\"POSIX\"'"],
    "regtype": ["'integer'", "'point[]'"],
    "regrole": ["'syncgate'", "'pg_monitor'"],
    "regnamespace": ["'pg_catalog'", "'public'"],
    "regconfig": ["'english'", "'simple'"],
    "regdictionary": ["'simple'", "'english_stem'"],
    "text": ["''", "E'multi\\nline, \"quoted\"\\t\\\\ end'", "'é☃ 𝄞'"],
    "varchar": ["''", "'x'"],
    "bpchar": ["'a'", "' lead'", "''"],
    "oid": ["0", "4294967295"],
    "tid": ["'(0,1)'", "'(4294967295,65535)'"],
    "xid": ["'0'", "'4294967295'"],
    "xid8": ["'0'", "'18446744073709551615'"],
    "cid": ["'0'", "'4294967295'"],
    "json": ['\'{"a": [1, 2.50, null], "a": 2}\'', "'\"x\"'", "'null'", "'[]'"],
    "jsonb": ["'{\"a\": 1.0}'", "'{\"a\": 1.00}'", "'[]'", "'null'"],
    "jsonpath": ["'$.a[*] ? (@ > 1)'", "'strict $.\"x y\"'"],
    "xml": ["'<a x=\"1\">t &amp; u</a>'", "'text only'", "''"],
    "point": ["'(1,2)'", "'(NaN,-Infinity)'", "'(-0,1e300)'"],
    "lseg": ["'[(0,0),(1,1)]'", "'[(1,1),(2,2)]'"],
    "path": ["'((0,0),(1,1),(2,0))'", "'[(0,0),(1,1)]'"],
    "box": ["'(1,1),(0,0)'", "'(2,2),(1,1)'"],  # equal areas: box '=' says they are equal
    "polygon": ["'((0,0),(1,1),(1,0))'", "'((0,0),(2,2),(2,0))'"],
    "line": ["'{1,-1,0}'", "'{1,-1,1}'"],
    "circle": ["'<(0,0),1>'", "'<(1,1),1>'"],  # equal areas again
    "float4": ["'0'", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "'3.4028235e38'", "'1.4e-45'"],
    "float8": ["'0'", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "'1.7976931348623157e308'", "'5e-324'"],
    "money": ["'1.00'", "'-92233720368547758.08'", "'92233720368547758.07'"],
    "macaddr": ["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'"],
    "macaddr8": ["'08:00:2b:01:02:03:04:05'", "'00:00:00:00:00:00:00:00'"],
    "inet": ["'10.1.2.3/8'", "'10.1.2.3'", "'::1'", "'2001:db8::1/64'"],
    "cidr": ["'10.0.0.0/8'", "'::/0'", "'2001:db8::/32'"],
    "aclitem": ["'syncgate=arwdDxt/syncgate'", "'=r/syncgate'"],
    "date": ["'infinity'", "'-infinity'", "'4713-01-01 BC'", "'5874897-12-31'", "'2026-01-01'"],
    "time": ["'00:00'", "'24:00:00'", "'23:59:59.999999'"],
    "timetz": ["'00:00+00'", "'23:59:59.999999-15:59'", "'12:00+05:30'"],
    "timestamp": [
        "'infinity'",
        "'-infinity'",
        "'4713-01-01 00:00 BC'",
        "'294276-12-31 23:59:59.999999'",
        "'2026-01-01 12:00:00.123456'",
    ],  # fmt: skip
    "timestamptz": [
        "'infinity'",
        "'-infinity'",
        "'4713-01-01 00:00+00 BC'",
        "'2026-01-01 12:00+05:30'",
        "'2026-01-01 06:30:00+00'",
    ],  # fmt: skip
    "interval": ["'1 day'", "'24 hours'", "'-178000000 years'", "'1 mon -1 day -00:00:00.000001'"],
    "bit": ["'0'", "'1'"],
    "varbit": ["''", "'10101'"],
    "numeric": [
        "'1.0'",
        "'1.00'",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "'-0.000000000000000000001'",
        "'123456789012345678901234567890.123456789'",
    ],  # fmt: skip
    "refcursor": ["'c1'", "''"],
    "uuid": ["'00000000-0000-0000-0000-000000000000'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    "pg_lsn": ["'0/0'", "'FFFFFFFF/FFFFFFFF'", "'16/B374D848'"],
    "txid_snapshot": ["'10:20:10,14,15'", "'1:1:'"],
    "pg_snapshot": ["'10:20:10,14,15'", "'1:1:'"],
    "tsvector": ["''", "'a fat:2,4 cat:3A'"],
    "tsquery": ["'fat & (rat | !cat)'", "'a <-> b'"],
    "int4range": ["'empty'", "'[1,10)'", "'(,5]'", "'(,)'"],
    "int8range": ["'[-9223372036854775808,0)'", "'empty'"],
    "numrange": ["'[1.0,2.00)'", "'[1,2)'", "'(,NaN]'"],
    "daterange": ["'[2026-01-01,infinity)'", "'empty'"],
    "tsrange": ["'[2026-01-01 00:00,2026-01-02 00:00)'", "'(,infinity]'"],
    "tstzrange": ["'[2026-01-01 00:00+00,2026-01-02 00:00+05)'", "'empty'"],
    "int4multirange": ["'{}'", "'{[1,2),[5,9)}'"],
    "int8multirange": ["'{}'", "'{[1,2)}'"],
    "nummultirange": ["'{[1.0,2.00)}'", "'{[1,2)}'"],
    "datemultirange": ["'{}'", "'{[2026-01-01,2026-02-01)}'"],
    "tsmultirange": ["'{(,)}'", "'{}'"],
    "tstzmultirange": ["'{[2026-01-01 00:00+00,infinity)}'", "'{}'"],
    "mood": ["'sad'", "'with space, \"quoted\"'", "'ünï'"],
    "d_posint": ["1", "2147483647"],
    "d_text": ["''", "'y'"],
    "d_amount": ["'0'", "'12.5'"],
    "d_point": ["'(1,2)'", "'(3,4)'"],
    "d_ints": ["'{}'", "'{1,NULL,3}'"],
    "comp": [
        "ROW('(1,2)', 'a,b \"c\"', 'sad', 1.5)",
        "ROW(NULL, '', 'ünï', 'NaN')",
        "ROW(NULL, NULL, NULL, NULL)",
    ],
    "keycomp": ["ROW(1, 'a,b', 'sad')", "ROW(1, '', 'ok')"],
    "floatrange": ["'[1.5,2.5)'", "'empty'", "'(-Infinity,Infinity)'"],
    "floatmultirange": ["'{}'", "'{[1,2),[3,4)}'"],
}

# Types whose input function refuses every value (PostgreSQL's internal types): no target can
# be loaded with them, so a flow holding one is refused. A value comes from the catalog, where
# one can be made at all.
NO_INPUT: dict[str, str | None] = {
    "pg_node_tree": "SELECT adbin FROM pg_catalog.pg_attrdef LIMIT 1",
    "pg_ndistinct": "SELECT stxdndistinct FROM pg_catalog.pg_statistic_ext_data WHERE stxdndistinct IS NOT NULL LIMIT 1",
    "pg_dependencies": "SELECT stxddependencies FROM pg_catalog.pg_statistic_ext_data "
    "WHERE stxddependencies IS NOT NULL LIMIT 1",
    "pg_mcv_list": "SELECT stxdmcv FROM pg_catalog.pg_statistic_ext_data WHERE stxdmcv IS NOT NULL LIMIT 1",
    "gtsvector": None,
    "pg_brin_bloom_summary": None,
    "pg_brin_minmax_multi_summary": None,
}

# Type modifiers matter too: a few typed columns beyond the catalog's bare types.
MODIFIED = {
    "numeric(12,2)": ["'1.5'", "'-9999999999.99'"],
    "numeric(5,20)": ["'0.00000000000000012345'", "'0'"],
    "character(5)": ["'a'", "'abcde'"],
    "character varying(3)": ["''", "'xyz'"],
    "bit(5)": ["'10101'", "'00000'"],
    "bit varying(5)": ["''", "'101'"],
    "timestamp(0) without time zone": ["'2026-01-01 12:00:01'", "'infinity'"],
    "time(3) with time zone": ["'12:00:00.123+02'", "'00:00+00'"],
    "interval day to second(2)": ["'1 day 00:00:01.25'", "'-1 day'"],
}

ROWS = 7  # rows with values (cycling through the samples); one more row is all NULL

_CATALOG = """
SELECT t.typname, pg_catalog.format_type(t.oid, NULL), t.typarray <> 0
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname IN ('pg_catalog', 'public') AND t.typisdefined
  AND t.typtype IN ('b', 'c', 'd', 'e', 'r', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
  AND (t.typtype <> 'c' OR EXISTS (
      SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
ORDER BY 1
"""


def catalog_types(url: str) -> list[tuple[str, str, bool]]:
    """(typname, type as format_type prints it, has an array type) of every column type."""
    return [(str(a), str(b), bool(c)) for a, b, c in rows(url, _CATALOG)]


def create_user_types(*urls: str) -> None:
    for url in urls:
        execute(url, *USER_TYPES)


def _column(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_")


def _array_samples(pg_type: str, values: list[str]) -> list[str]:
    first, second = f"({values[0]})::{pg_type}", f"({values[1 % len(values)]})::{pg_type}"
    return [
        f"'{{}}'::{pg_type}[]",
        f"ARRAY[{first}, NULL]",
        f"ARRAY[[{first}, {second}], [{second}, NULL]]",
        f"ARRAY[{second}]",
    ]


def sample_columns(url: str) -> list[tuple[str, str, list[str]]]:
    """(column, type, samples) for every catalog type with input, its array, and MODIFIED."""
    types = catalog_types(url)
    missing = sorted(n for n, _, _ in types if n not in SAMPLES and n not in NO_INPUT)
    assert not missing, f"types without samples (add them to SAMPLES or NO_INPUT): {missing}"
    columns = []
    for typname, pg_type, has_array in types:
        if typname in NO_INPUT:
            continue
        values = SAMPLES[typname]
        columns.append((f"c_{_column(typname)}", pg_type, values))
        if has_array:
            columns.append((f"a_{_column(typname)}", f"{pg_type}[]", _array_samples(pg_type, values)))
    columns += [(f"m_{_column(t)}", t, v) for t, v in MODIFIED.items()]
    columns.append(("a_bounds", "integer[]", ["'[0:1]={1,2}'", "'[-3:-2][1:1]={{1},{2}}'"]))
    return columns


def fill(url: str, table: str, columns: list[tuple[str, str, list[str]]], shift: int = 0) -> None:
    """(Re)fill ``table`` (id + columns): row k holds sample (k + shift), the last row NULLs."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {table}")
        for k in range(ROWS):
            values = [f"({v[(k + shift) % len(v)]})::{t}" for _, t, v in columns]
            conn.execute(f"INSERT INTO {table} VALUES ({k + 1}, {', '.join(values)})")
        conn.execute(f"INSERT INTO {table} (id) VALUES ({ROWS + 1})")


def as_text(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    listed = ", ".join(f"{c}::text" for c in columns)
    return rows(url, f"SELECT id, {listed} FROM {table} ORDER BY id")


def column_types(url: str, table: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "SELECT attname, pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,),
    )


def types_spec(**overrides: Any):  # type: ignore[no-untyped-def]
    return make_spec(
        **{
            "transform": {},
            "quality": {"expectations": []},
            "source__table": "public.everything",
            "source__cursor": None,
            "source__deletes": "none",
            "target__table": "analytics.everything",
            **overrides,
        }
    )


@pytest.mark.usefixtures("merge_path")
def test_every_column_type_syncs_value_for_value(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    create_user_types(src, dst)
    columns = sample_columns(src)
    definitions = ", ".join(f"{name} {pg_type}" for name, pg_type, _ in columns)
    execute(src, f"CREATE TABLE public.everything (id integer PRIMARY KEY, {definitions})")
    fill(src, "public.everything", columns)
    names = [name for name, _, _ in columns]
    spec = types_spec()

    first = sync(spec)
    assert first["counts"]["rows_inserted"] == ROWS + 1
    assert column_types(dst, "analytics.everything") == column_types(src, "public.everything")
    assert as_text(dst, "analytics.everything", names) == as_text(src, "public.everything", names)

    # Every value moves to the next sample: the merge must see each change, even between values
    # the type's '=' calls equal (box areas, 1.0 and 1.00, '1 day' and '24 hours', -0 and 0).
    fill(src, "public.everything", columns, shift=1)
    second = sync(spec)
    assert as_text(dst, "analytics.everything", names) == as_text(src, "public.everything", names)
    assert second["counts"]["rows_updated"] == ROWS


@pytest.mark.parametrize("typname", sorted(NO_INPUT))
def test_a_type_without_text_input_is_refused_naming_column_and_type(
    databases: dict[str, str], typname: str
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, f"CREATE TABLE public.everything (id integer PRIMARY KEY, odd pg_catalog.{typname})")
    query = NO_INPUT[typname]
    if query:
        # Catalog rows that hold one: a column default, extended statistics.
        execute(
            src,
            "CREATE TABLE public.stats (a int DEFAULT 1, b int)",
            "INSERT INTO public.stats SELECT g % 10, g % 5 FROM generate_series(1, 200) g",
            "CREATE STATISTICS public.ab (ndistinct, dependencies, mcv) ON a, b FROM public.stats",
            "ANALYZE public.stats",
            f"INSERT INTO public.everything SELECT 1, ({query})",
        )
        assert rows(src, "SELECT count(odd) FROM public.everything") == [(1,)]
    with pytest.raises(FatalError) as refused:
        sync(types_spec())
    assert "'odd'" in str(refused.value) and typname in str(refused.value)
    assert rows(dst, "SELECT to_regclass('analytics.everything')") == [(None,)]


def test_a_user_type_the_target_lacks_is_refused_naming_column_and_type(databases: dict[str, str]) -> None:
    src, dst = databases["src"], databases["dst"]
    create_user_types(src)  # not in the target database
    execute(
        src,
        "CREATE TABLE public.everything (id integer PRIMARY KEY, feeling public.mood, pair public.comp)",
        "INSERT INTO public.everything VALUES (1, 'sad', ROW('(1,2)', 'x', 'ok', 1))",
    )
    with pytest.raises(FatalError) as refused:
        sync(types_spec())
    message = str(refused.value)
    assert "'feeling' is of type mood" in message and "'pair' is of type comp" in message
    assert "create the type there" in message
    assert rows(dst, "SELECT to_regclass('analytics.everything')") == [(None,)]


def test_a_pseudo_typed_query_column_is_refused_naming_column_and_type(databases: dict[str, str]) -> None:
    src = databases["src"]
    execute(
        src,
        "CREATE TABLE public.everything (id integer PRIMARY KEY)",
        "INSERT INTO public.everything VALUES (1)",
    )
    spec = types_spec(
        source__table=None,
        source__query="SELECT id, ROW(id, 'x') AS pair, ARRAY[ROW(id)] AS pairs FROM public.everything",
    )
    with pytest.raises(FatalError) as refused:
        sync(spec)
    message = str(refused.value)
    assert "'pair' is of type record" in message and "'pairs' is of type record[]" in message


def _key_candidates(url: str) -> list[tuple[str, str, list[str]]]:
    """Every sampled column type, with PostgreSQL's own verdict as the oracle below."""
    return [c for c in sample_columns(url) if not c[0].startswith("m_") and c[0] != "a_bounds"]


def _postgres_accepts_key(url: str, pg_type: str, values: list[str]) -> bool:
    """A primary key of ``pg_type`` can be created and holds the samples (an array of points can
    be declared a key, but comparing two of them fails)."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute(f"CREATE TEMPORARY TABLE probe (k {pg_type} PRIMARY KEY)")
        except psycopg.errors.UndefinedObject:  # "data type point has no default operator class"
            return False
        for value in values:
            try:
                with conn.transaction():
                    conn.execute(f"INSERT INTO probe VALUES (({value})::{pg_type})")
            except psycopg.errors.UniqueViolation:
                pass  # equal to a sample already there (1.0 and 1.00): still a key type
            except psycopg.Error:
                return False
        conn.rollback()
    return True


def test_every_keyable_type_syncs_as_a_key_and_the_others_are_refused(databases: dict[str, str]) -> None:
    """PostgreSQL decides which types can be a primary key; syncgate must agree, for each."""
    src, dst = databases["src"], databases["dst"]
    create_user_types(src, dst)
    candidates = _key_candidates(src)
    keyable = [c for c in candidates if _postgres_accepts_key(src, c[1], c[2])]
    refused = [c for c in candidates if c not in keyable]
    assert {"c_point", "c_json", "c_xml", "c_comp"} <= {c[0] for c in refused}
    assert {"c_macaddr", "c_mood", "c_keycomp", "c_int4range", "c_numeric"} <= {c[0] for c in keyable}
    # Compound keys of up to 31 columns (PostgreSQL indexes at most 32) plus the row id.
    for start in range(0, len(keyable), 31):
        chunk = keyable[start : start + 31]
        table = f"keys_{start}"
        key = ", ".join(["id", *(name for name, _, _ in chunk)])
        definitions = ", ".join(f"{name} {pg_type} NOT NULL" for name, pg_type, _ in chunk)
        execute(
            src, f"CREATE TABLE public.{table} (id integer, {definitions}, note text, PRIMARY KEY ({key}))"
        )
        for k in range(ROWS):
            values = ", ".join(f"({v[k % len(v)]})::{t}" for _, t, v in chunk)
            execute(src, f"INSERT INTO public.{table} VALUES ({k}, {values}, 'first')")
        names = ["id", *(name for name, _, _ in chunk)]
        spec = types_spec(
            id=f"keys_{start}", source__table=f"public.{table}", target__table=f"analytics.{table}",
            source__primary_key=names,
        )  # fmt: skip
        sync(spec)
        execute(src, f"UPDATE public.{table} SET note = 'second'")
        counts = sync(spec)["counts"]  # every row found again by its key
        assert counts == {"rows_inserted": 0, "rows_updated": ROWS, "rows_deleted": 0}, (table, counts)
        listed = [*names, "note"]
        assert as_text(dst, f"analytics.{table}", listed[1:]) == as_text(src, f"public.{table}", listed[1:])
    # A key of each refused type: the flow stops before anything lands, naming column and type.
    for name, pg_type, values in refused:
        table = f"refused_{name}"
        execute(src, f"CREATE TABLE public.{table} (k {pg_type}, note text)")
        execute(src, f"INSERT INTO public.{table} VALUES (({values[0]})::{pg_type}, 'x')")
        spec = types_spec(
            id=f"refused_{name}"[:60], source__table=f"public.{table}", target__table=f"analytics.{table}",
            source__primary_key=["k"],
        )  # fmt: skip
        with pytest.raises(FatalError) as stopped:
            sync(spec)
        assert f"primary key column 'k' is of type {pg_type}" in str(stopped.value), (
            pg_type,
            str(stopped.value),
        )


@pytest.mark.parametrize(
    "key_type", ["macaddr", "public.mood", "public.keycomp", "pg_lsn", "int4range", "text[]"]
)
def test_a_single_column_key_of_an_unusual_type_syncs(databases: dict[str, str], key_type: str) -> None:
    """One key column takes other gate checks (GX's distinct count) than a compound key."""
    src, dst = databases["src"], databases["dst"]
    create_user_types(src, dst)
    typname = key_type.split(".")[-1].removesuffix("[]")
    values = SAMPLES[typname] if not key_type.endswith("[]") else _array_samples("text", SAMPLES["text"])
    execute(src, f"CREATE TABLE public.everything (k {key_type} PRIMARY KEY, note text)")
    for value in values:
        execute(src, f"INSERT INTO public.everything VALUES (({value})::{key_type}, 'first')")
    spec = types_spec(source__primary_key=["k"])
    sync(spec)
    execute(src, "UPDATE public.everything SET note = 'second'")
    assert sync(spec)["counts"] == {"rows_inserted": 0, "rows_updated": len(values), "rows_deleted": 0}
    compare = "SELECT k::text, note FROM {} ORDER BY k"
    assert rows(dst, compare.format("analytics.everything")) == rows(src, compare.format("public.everything"))


HTTP_USER_TYPES = [
    "CREATE TYPE public.crm_status AS ENUM ('active', 'inactive', 'lead')",
    "CREATE TYPE public.crm_address AS (city text, country character(2))",
]


@pytest.mark.parametrize("name_type", ["xml", "point", "pg_lsn", "txid_snapshot", "box", "macaddr8"])
def test_odd_types_reach_an_http_target_as_json(
    databases: dict[str, str], crm_empty: Any, name_type: str
) -> None:
    """An HTTP target sends each value as PostgreSQL's JSON of it: a type without a JSON form as its
    text (the CRM's ``name``), an enum as its label, an enum array as strings, a composite as an object."""
    from crm_push import make_http_spec

    src, dst = databases["src"], databases["dst"]
    for url in (src, dst):
        execute(url, *HTTP_USER_TYPES)
    values = [v for v in SAMPLES[name_type] if v != "''"]
    execute(
        src,
        f"CREATE TABLE public.customers (id bigint PRIMARY KEY, name {name_type} NOT NULL, email text, "
        "status public.crm_status NOT NULL, tier integer, lifetime_value numeric(12,2), "
        "address public.crm_address NOT NULL, tags public.crm_status[] NOT NULL, "
        "updated_at timestamptz NOT NULL, deleted_at timestamptz)",
        *(
            f"INSERT INTO public.customers VALUES ({i + 1}, ({v})::{name_type}, NULL, "
            f"'{['active', 'lead'][i % 2]}', NULL, 1.5, ROW('Köln, \"Mitte\"', 'DE'), "
            f"'{{lead,active}}', '2026-01-01', NULL)"
            for i, v in enumerate(values)
        ),
    )
    # (No `value_set` check on the enum: GX binds set members as VARCHAR, and an enum has no
    # operator with character varying; docs/types.md says so.)
    sync(make_http_spec(quality={"expectations": []}))
    sent = {r["id"]: r for r in crm_empty.admin.records("customers")}
    expected = rows(
        src, "SELECT id, name::text, status::text, tags::text[] FROM public.customers ORDER BY id"
    )
    assert [(i, sent[i]["name"], sent[i]["status"], sent[i]["tags"]) for i in sorted(sent)] == [
        (i, name, status, list(tags)) for i, name, status, tags in expected
    ]
    assert {r["address"]["city"] for r in sent.values()} == {'Köln, "Mitte"'}


TWO_WAY_SPEC = """
id: odd_two_way
mode: two_way
schedule: "*/5 * * * *"
retries: 0
sides:
  erp: {type: postgres, conn_id: src_db, table: public.things, primary_key: [id], cursor: updated_at, deletes: hard}
  crm: {type: postgres, conn_id: dst_db, table: public.things, primary_key: [id], cursor: updated_at, deletes: hard}
fields:
  id: {}
  spot: {}
  doc: {}
  lsn: {}
  snap: {}
  feeling: {}
  pair: {}
  span: {}
  ratio: {}
  hosts: {}
match: [id]
conflicts:
  default: newest_wins
  tie_break: [erp, crm]
"""

TWO_WAY_TABLE = """
CREATE TABLE public.things (id int PRIMARY KEY, spot point, doc xml, lsn pg_lsn, snap txid_snapshot,
                            feeling public.mood, pair public.comp, span interval, ratio float8, hosts inet[],
                            updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON public.things FOR EACH ROW EXECUTE FUNCTION stamp();
"""

THINGS = "SELECT id, spot::text, doc::text, lsn::text, snap::text, feeling::text, pair::text, span::text, ratio::text, hosts::text FROM public.things ORDER BY id"


def test_odd_types_sync_both_ways_without_echoes(
    databases: dict[str, str], airflow_db: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A two-way flow carries the odd types both ways, and its own writes read back unchanged.

    (Two-way compares canonical values, numbers by value: a float -0 arrives as 0 there.)"""
    from helpers import flows_dag_bag, task_states

    erp, crm = databases["src"], databases["dst"]
    create_user_types(erp, crm)
    execute(erp, TWO_WAY_TABLE)
    execute(crm, TWO_WAY_TABLE)
    execute(
        erp,
        "INSERT INTO public.things (id, spot, doc, lsn, snap, feeling, pair, span, ratio, hosts) VALUES "
        "(1, '(1,2)', '<a x=\"1\">t</a>', '16/B374D848', '10:20:10,14', 'sad', ROW('(1,2)', 'a,b', 'ok', 1.5), "
        "'1 day', 'NaN', '{10.1.2.3/8,::1}'), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    execute(
        crm,
        "INSERT INTO public.things (id, spot, doc, lsn, snap, feeling, pair, span, ratio, hosts) VALUES "
        "(3, '(NaN,-Infinity)', 'text only', '0/0', '1:1:', 'ünï', ROW(NULL, '', NULL, 'NaN'), "
        "'-178000000 years', '-Infinity', '{}')",
    )
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "odd_two_way.yml").write_text(TWO_WAY_SPEC)

    def run() -> Any:
        dag_run = flows_dag_bag(monkeypatch, folder).dags["odd_two_way"].test()
        assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
        return dag_run

    run()
    assert rows(erp, THINGS) == rows(crm, THINGS)
    assert len(rows(erp, THINGS)) == 3
    stamps = "SELECT id, updated_at FROM public.things ORDER BY id"
    before = (rows(erp, stamps), rows(crm, stamps))
    run()  # nothing changed: syncgate's own writes must not read back as edits
    assert (rows(erp, stamps), rows(crm, stamps)) == before, "a run without edits wrote to a side"
    execute(
        crm,
        "UPDATE public.things SET spot = '(5,6)', span = '24 hours', pair = ROW('(0,0)', 'x', 'sad', 2) WHERE id = 1",
    )
    run()
    assert rows(erp, THINGS) == rows(crm, THINGS)
    assert rows(erp, "SELECT spot::text, span::text FROM public.things WHERE id = 1") == [
        ("(5,6)", "24:00:00")
    ]


def test_a_value_the_target_cannot_read_stops_the_load_naming_column_and_type(
    databases: dict[str, str],
) -> None:
    """A regclass names a relation of the source: the target reads the name and has none."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.only_in_source (x int)",
        "CREATE TABLE public.everything (id integer PRIMARY KEY, r regclass)",
        "INSERT INTO public.everything VALUES (1, 'pg_class'), (2, 'public.only_in_source')",
    )
    with pytest.raises(FatalError) as refused:
        sync(types_spec())
    message = str(refused.value)
    assert "column 'r' of type regclass" in message and "only_in_source" not in message  # no value quoted
    assert rows(dst, "SELECT to_regclass('analytics.everything')") == [(None,)]
