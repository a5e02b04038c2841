"""GX's engines reflect every PostgreSQL type by its own name; known types reflect as before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from syncgate.quality.pg_types import engine_kwargs, named_type

pytestmark = pytest.mark.unit

URL = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # create_engine connects lazily: never here


def _compiled(engine: sa.Engine, name: str, *args: str) -> str:
    found = engine.dialect.ischema_names.get(name, None)
    assert found is not None, name
    return str(found(*args).compile(dialect=engine.dialect))


@pytest.mark.parametrize(
    "name", ["xml", "point", "pg_lsn", "txid_snapshot", "mood", "public.comp", '"My Type"']
)
def test_a_type_sqlalchemy_does_not_know_compiles_to_its_own_name(name: str) -> None:
    engine = sa.create_engine(URL, **engine_kwargs())
    assert _compiled(engine, name) == name


def test_modifiers_of_an_unknown_type_are_kept() -> None:
    engine = sa.create_engine(URL, **engine_kwargs())
    assert _compiled(engine, "geometry", "Point", "4326") == "geometry(Point,4326)"


def test_known_types_and_other_engines_are_left_alone() -> None:
    engine = sa.create_engine(URL, **engine_kwargs())
    assert engine.dialect.ischema_names.get("integer") is postgresql.INTEGER
    assert engine.dialect.ischema_names["jsonb"] is postgresql.JSONB
    plain = sa.create_engine(URL)
    assert plain.dialect.ischema_names.get("point", None) is None  # SQLAlchemy's own behaviour
    assert postgresql.base.PGDialect.ischema_names.get("point", None) is None


def test_the_named_type_is_a_type_sqlalchemy_can_cache() -> None:
    point = named_type("point")
    assert point.cache_ok is True
    assert str(point.compile(dialect=postgresql.dialect())) == "point"
