"""Finding a page's record list and flattening records into named columns."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.records import MISSING, Flattener, column_name, dig, flatten, record_list
from syncgate.errors import FatalError

pytestmark = pytest.mark.unit

DOC = {"data": {"items": [{"id": 1}]}, "tags": ["a", "b"], "n": None}


def test_dig_follows_dotted_paths_and_list_indexes() -> None:
    assert dig(DOC, "data.items") == [{"id": 1}]
    assert dig(DOC, "tags.1") == "b"
    assert dig(DOC, "n") is None
    assert dig(DOC, "data.nope") is MISSING and dig(DOC, "tags.5") is MISSING and dig(DOC, "n.x") is MISSING
    assert dig(DOC, None) is DOC


def test_record_list_checks_the_shape() -> None:
    assert record_list(DOC, "data.items", "w") == [{"id": 1}]
    assert record_list([{"id": 2}], None, "w") == [{"id": 2}]
    assert record_list({"data": {"items": None}}, "data.items", "w") == []  # null list: no records
    assert record_list({"data": {}}, "data.items", "w", path_seen=True) == []  # absent, once seen
    with pytest.raises(FatalError, match=r"no `source.records` path `data.itemz` \(top-level keys: data\)"):
        record_list({"data": {}}, "data.itemz", "w")
    with pytest.raises(FatalError, match="omit `source.records`"):
        record_list([{"id": 1}], "data.items", "w")
    with pytest.raises(FatalError, match="JSON dict, not a list"):
        record_list(DOC, "data", "w")
    with pytest.raises(FatalError, match="not JSON objects"):
        record_list(DOC, "tags", "w")


def test_flatten_declared_paths_and_top_level_fields() -> None:
    record = {"id": 7, "address": {"city": "Oslo"}, "first-name": "Ada"}
    row = flatten(record, {"city": "address.city", "zip": "address.zip"}, top_level=True)
    assert row == {"id": 7, "address": {"city": "Oslo"}, "first_name": "Ada", "city": "Oslo", "zip": MISSING}
    assert flatten(record, {"city": "address.city"}, top_level=False) == {"city": "Oslo"}
    assert column_name("9lives") == "_9lives"


def test_a_missing_record_list_names_the_top_level_keys_but_never_a_value() -> None:
    with pytest.raises(FatalError) as caught:
        record_list({"error": "secret-value-of-alice@example.com"}, "data", "page 1")
    assert "top-level keys: error" in str(caught.value) and "alice" not in str(caught.value)
    with pytest.raises(FatalError, match="JSON str, not a record list"):
        record_list("alice@example.com", "data", "page 1")


@pytest.mark.parametrize(
    ("key", "name"),
    [("id", "id"), ("first-name", "first_name"), ("a.b c", "a_b_c"), ("", "_"), ("x" * 70, "x" * 63)],
)
def test_a_record_key_becomes_a_plain_identifier_of_at_most_63_characters(key: str, name: str) -> None:
    assert column_name(key) == name


RECORDS: list[dict[str, Any]] = [
    {"id": 1, "address": {"city": "Oslo", "zip": "0150"}, "tags": ["a"]},
    {"id": 2, "address": {"city": "Bergen"}, "first-name": "Ada"},
    {"id": 3, "address": None, "city": "top-level city"},
    {"id": 4},
]


@pytest.mark.parametrize("top_level", [True, False])
@pytest.mark.parametrize(
    "declared",
    [
        {},
        {"city": "address.city", "zip": "address.zip"},
        {"id": "id", "first_tag": "tags.0"},
        {"city": "city"},
    ],
)
def test_the_compiled_flattener_gives_flatten_without_missing_columns(
    declared: dict[str, str], top_level: bool
) -> None:
    flattener = Flattener(declared, top_level)
    for _ in range(2):  # the second pass runs on cached column names
        for record in RECORDS:
            expected = {k: v for k, v in flatten(record, declared, top_level).items() if v is not MISSING}
            assert flattener(record) == expected


def test_a_declared_path_that_is_absent_drops_a_same_named_top_level_field() -> None:
    # `city: address.city` is the column: a record without that path has no city, not its top-level one.
    assert Flattener({"city": "address.city"}, top_level=True)(RECORDS[2]) == {"id": 3, "address": None}
