"""syncgate's own schemas are refused wherever a spec names a table or a query (issue 13.2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from syncgate.db.identifiers import TableRef
from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec
from syncgate.spec.reserved_schemas import check_query, is_reserved_schema

pytestmark = pytest.mark.unit

ENGINE = Path(__file__).resolve().parents[3] / "include" / "syncgate"
_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ONE_WAY = {
    "id": "hostile_flow",
    "source": {"type": "postgres", "conn_id": "src_db", "table": "public.orders", "primary_key": ["id"]},
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "analytics.orders", "write": "merge"},
}
TWO_WAY = {
    "id": "hostile_sync",
    "mode": "two_way",
    "state_conn_id": "dst_db",
    "sides": {
        "a": {
            "type": "postgres",
            "conn_id": "a_db",
            "table": "public.items",
            "primary_key": ["id"],
            "cursor": "u",
        },
        "b": {
            "type": "postgres",
            "conn_id": "b_db",
            "table": "public.items",
            "primary_key": ["id"],
            "cursor": "u",
        },
    },
}


def created_schemas() -> set[str]:
    """Every schema the engine's code creates or names as its own (DDL and *_SCHEMA constants)."""
    found: set[str] = set()
    for path in ENGINE.rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"CREATE SCHEMA (?:IF NOT EXISTS )?(?!IF\b)([A-Za-z_][A-Za-z0-9_]*)", text))
        found |= set(re.findall(r"^[A-Z_]*SCHEMA\s*=\s*\"([^\"]+)\"", text, re.M))
    return found


def test_every_schema_syncgate_creates_is_reserved() -> None:
    schemas = created_schemas()
    assert {"syncgate", "syncgate_staging", "syncgate_mirror"} <= schemas
    assert all(is_reserved_schema(s) for s in schemas), schemas


def case_variants(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(name, upper, strict=True))
    )


RESERVED = st.one_of(
    st.sampled_from(["syncgate", "syncgate_staging", "syncgate_mirror"]),
    st.from_regex(r"syncgate_[a-z0-9_]{1,12}", fullmatch=True),  # schemas syncgate adds later
).flatmap(case_variants)
TABLES = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)


def problems(tmp_path: Path, raw: dict) -> list[str]:
    path = tmp_path / "hostile.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "hostile.yml" in str(caught.value)
    return caught.value.problems


@_SETTINGS
@given(schema=RESERVED, table=TABLES, where=st.sampled_from(["source", "target", "side_a", "side_b"]))
def test_a_table_in_a_syncgate_schema_is_refused_naming_the_field(
    tmp_path: Path, schema: str, table: str, where: str
) -> None:
    name = f"{schema}.{table}"
    if where.startswith("side"):
        raw = yaml.safe_load(yaml.safe_dump(TWO_WAY))
        side = where[-1]
        raw["sides"][side]["table"] = name
        field = f"sides.{side}.table"
    else:
        raw = yaml.safe_load(yaml.safe_dump(ONE_WAY))
        raw[where]["table"] = name
        field = f"{where}.table"
    found = problems(tmp_path, raw)
    assert any(p.startswith(f"{field}:") and "syncgate's own" in p for p in found), found


@_SETTINGS
@given(
    schema=RESERVED,
    table=TABLES,
    quoting=st.sampled_from(['"{s}".{t}', '"{s}"."{t}"', " {s}.{t}", "{s} .{t}"]),
)
def test_quoted_or_spaced_names_are_refused_too(
    tmp_path: Path, schema: str, table: str, quoting: str
) -> None:
    raw = yaml.safe_load(yaml.safe_dump(ONE_WAY))
    raw["target"]["table"] = quoting.format(s=schema, t=table)
    assert any(p.startswith("target.table:") for p in problems(tmp_path, raw))


@_SETTINGS
@given(table=TABLES)
def test_a_table_without_a_schema_is_public_never_the_search_path(table: str) -> None:
    # The engine qualifies it: a connection whose search_path starts with syncgate cannot redirect it.
    assert TableRef.parse(table).schema == "public"


def test_other_schemas_stay_allowed() -> None:
    for schema in ("public", "analytics", "syncgatex", "my_syncgate", "sync_gate", "pg_temp_x"):
        assert not is_reserved_schema(schema), schema


# -- queries: PostgreSQL's lexical rules, generated --

_GAPS = st.sampled_from(["", " ", "\n\t", " /* c */ ", "/* a /* nested */ b */", " -- line\n"])


@st.composite
def qualified_reference(draw: st.DrawFn) -> str:
    schema = draw(RESERVED)
    if draw(st.booleans()):
        schema = '"' + schema.replace('"', '""') + '"'
    table = draw(TABLES)
    if draw(st.booleans()):
        table = f'"{table}"'
    return f"{schema}{draw(_GAPS)}.{draw(_GAPS)}{table}"


@_SETTINGS
@given(
    reference=qualified_reference(),
    shape=st.sampled_from(
        [
            "SELECT * FROM {r}",
            "select flow_id, value from {r} where true",
            "WITH w AS (SELECT * FROM {r}) SELECT * FROM w",
            "SELECT o.* FROM public.orders o JOIN {r} x ON true",
            "SELECT 'it''s' AS s, * FROM {r}",
            "SELECT $$ dollar $$ AS d, * FROM {r}",
            "SELECT (SELECT count(*) FROM {r}) AS n",
        ]
    ),
)
def test_a_query_naming_a_syncgate_schema_is_refused(reference: str, shape: str) -> None:
    with pytest.raises(ValueError, match="syncgate's own"):
        check_query(shape.format(r=reference))


@_SETTINGS
@given(
    mention=st.one_of(RESERVED, RESERVED.map(lambda s: f"{s}.watermarks")),
    shape=st.sampled_from(
        [
            "SELECT '{m}' AS label, id FROM public.orders",
            "SELECT id FROM public.orders -- not {m}\n",
            "SELECT id /* {m} */ FROM public.orders",
            "SELECT $tag${m}$tag$ AS note, id FROM public.orders",
            "SELECT E'\\'{m}' AS note FROM public.orders",
        ]
    ),
)
def test_a_query_mentioning_the_name_in_a_literal_or_comment_is_not_refused(mention: str, shape: str) -> None:
    assume("search_path" not in mention.lower())
    check_query(shape.format(m=mention))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT set_config('search_path', 'syncgate', true), * FROM watermarks",
        "SELECT pg_catalog.set_config('search' || '_path', 'x', true)",
        "SELECT current_setting('search_path')",
        'SELECT * FROM U&"\\0073yncgate".watermarks',
        'SELECT * FROM u&"d\\0061t\\+000061"',
    ],
)
def test_search_path_changes_and_unicode_escaped_names_are_refused(query: str) -> None:
    with pytest.raises(ValueError, match="search_path|Unicode-escaped"):
        check_query(query)


@pytest.mark.parametrize(
    "query", ["SELECT 'unterminated", 'SELECT "unterminated', "SELECT 1 /* open", "SELECT $a$ x"]
)
def test_an_unterminated_token_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        check_query(query)


def test_the_issues_example_a_watermark_shaped_query_into_syncgate_watermarks(tmp_path: Path) -> None:
    raw = yaml.safe_load(yaml.safe_dump(ONE_WAY))
    raw["source"] = {
        "type": "postgres",
        "conn_id": "src_db",
        "query": "SELECT 'victim_flow' AS flow_id, 'updated_at' AS cursor_column, '2099-01-01' AS value",
        "primary_key": ["flow_id"],
    }
    raw["target"]["table"] = "syncgate.watermarks"
    assert any(p.startswith("target.table:") and "syncgate's own" in p for p in problems(tmp_path, raw))
