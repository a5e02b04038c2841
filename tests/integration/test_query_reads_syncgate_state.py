"""A query source cannot read syncgate's state through what only the server resolves (issue 13.2):
an unqualified name the search_path resolves into a syncgate schema, or a view over one. Refused
from the query's plan, before a row is read."""

from __future__ import annotations

import pytest
from helpers import execute, make_spec, rows, seed_orders, sync

from syncgate.errors import SpecError

pytestmark = pytest.mark.integration

STATE_LIKE = (
    "CREATE SCHEMA syncgate",
    "CREATE TABLE syncgate.watermarks (flow_id text PRIMARY KEY, value text, updated_at timestamptz)",
    "INSERT INTO syncgate.watermarks VALUES ('victim', '2026-01-01', now())",
)


def query_flow(query: str):  # type: ignore[no-untyped-def]
    return make_spec(
        transform={},
        quality={"expectations": []},
        source={"type": "postgres", "conn_id": "src_db", "query": query, "primary_key": ["flow_id"]},
        target__table="analytics.copied",
    )


@pytest.mark.parametrize("path", ["syncgate, public", '"$user", public'])  # the test role is `syncgate`
def test_an_unqualified_name_resolved_into_syncgate_refuses_the_query(
    databases: dict[str, str], path: str
) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, *STATE_LIKE)
    database = src.rpartition("/")[2]
    execute(src, f'ALTER DATABASE "{database}" SET search_path = {path}')
    with pytest.raises(SpecError, match=r"reads schema\(s\) syncgate"):
        sync(query_flow("SELECT flow_id, value, updated_at FROM watermarks"))  # passes validation
    assert rows(dst, "SELECT to_regclass('analytics.copied')") == [(None,)]


@pytest.mark.parametrize(
    "relation",
    [
        "CREATE VIEW public.wm AS SELECT * FROM syncgate.watermarks",
        "CREATE VIEW public.wm AS SELECT * FROM (SELECT flow_id, value, updated_at FROM syncgate.watermarks) s",
    ],
)
def test_a_view_over_syncgate_refuses_the_query(databases: dict[str, str], relation: str) -> None:
    src, dst = databases["src"], databases["dst"]
    execute(src, *STATE_LIKE, relation)
    with pytest.raises(SpecError, match=r"reads schema\(s\) syncgate"):
        sync(query_flow("SELECT flow_id, value, updated_at FROM public.wm"))
    assert rows(dst, "SELECT to_regclass('analytics.copied')") == [(None,)]


def test_an_ordinary_query_still_runs(databases: dict[str, str]) -> None:
    seed_orders(databases["src"], 5)
    spec = make_spec(
        transform={},
        quality={"expectations": []},
        source={
            "type": "postgres",
            "conn_id": "src_db",
            "query": "SELECT id, note, updated_at FROM public.orders WHERE note LIKE 'n%' -- syncgate.x\n",
            "primary_key": ["id"],
            "cursor": "updated_at",
        },
    )
    sync(spec)
    assert rows(databases["dst"], "SELECT count(*) FROM analytics.orders") == [(4,)]


def test_a_table_without_a_schema_is_public_whatever_the_search_path(databases: dict[str, str]) -> None:
    """`table: watermarks` with search_path = syncgate, public reads public.watermarks."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        *STATE_LIKE,
        "CREATE TABLE public.watermarks (flow_id text PRIMARY KEY, value text, updated_at timestamptz)",
        "INSERT INTO public.watermarks VALUES ('ordinary', 'x', now())",
    )
    database = src.rpartition("/")[2]
    execute(src, f'ALTER DATABASE "{database}" SET search_path = syncgate, public')
    spec = make_spec(
        transform={},
        quality={"expectations": []},
        source={"type": "postgres", "conn_id": "src_db", "table": "watermarks", "primary_key": ["flow_id"]},
        target__table="analytics.copied",
    )
    sync(spec)
    assert rows(dst, "SELECT flow_id FROM analytics.copied") == [("ordinary",)]
