"""SQL composed from identifiers: key matches and qualified column lists, every name quoted."""

from __future__ import annotations

import pytest
from psycopg import sql

from syncgate.db.sql import compose, key_match, qualified

pytestmark = pytest.mark.unit


def test_compose_quotes_identifiers_and_literals_into_the_template() -> None:
    composed = compose(
        "SELECT {} FROM {} WHERE x = {}", sql.Identifier("a b"), sql.Identifier("s", "t"), sql.Literal("it's")
    )
    assert composed.as_string() == 'SELECT "a b" FROM "s"."t" WHERE x = \'it\'\'s\''


def test_a_key_match_compares_every_key_column_of_both_sides() -> None:
    assert key_match(["id"], "t", "s").as_string() == '"t"."id" = "s"."id"'
    assert key_match(["region", "id"], "t", "s").as_string() == (
        '"t"."region" = "s"."region" AND "t"."id" = "s"."id"'
    )


def test_qualified_columns_carry_the_alias() -> None:
    assert qualified(["id", "Name"], "s").as_string() == '"s"."id", "s"."Name"'
