from __future__ import annotations

import pyarrow as pa
import pytest

from syncgate.hashing import keyed_hash
from syncgate.pipeline.transform import apply, output_columns
from syncgate.spec.model import Transform

pytestmark = pytest.mark.unit

STEPS = Transform(
    rename={"amount": "amount_usd"},
    cast={"amount_usd": "numeric(12,2)"},
    map_values={"status": {"P": "pending", "S": "shipped", "X": None}},
    hash=["email"],
    drop=["internal_note"],
)


def batch() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "status": ["P", "S", "X", "Q"],
            "amount": pa.array([1.5, None, 3.25, 0.0]),
            "email": ["a@x.io", None, "a@x.io", "b@x.io"],
            "internal_note": ["n1", "n2", None, "n4"],
        }
    )


def test_applies_rename_cast_map_and_drop_in_order() -> None:
    out = apply(STEPS, batch())
    assert out.column_names == ["id", "status", "amount_usd", "email"]
    # Listed values are mapped (to NULL too), unlisted values pass through unchanged.
    assert out["status"].to_pylist() == ["pending", "shipped", None, "Q"]
    # Cast columns travel as text; PostgreSQL applies the type on load. NULL stays NULL.
    assert out["amount_usd"].to_pylist() == ["1.5", None, "3.25", "0"]
    # Hashing happened at extract, before landing: the transform leaves the column alone.
    assert out["email"].to_pylist() == batch()["email"].to_pylist()


def test_keyed_hash() -> None:
    emails = batch()["email"]
    first = keyed_hash(emails, b"k1").to_pylist()
    assert first[1] is None
    assert first[0] == first[2] != first[3]
    assert all(len(e) == 64 and "@" not in e for e in first if e)
    assert keyed_hash(emails, b"k2").to_pylist()[0] != first[0]


def test_output_columns_follow_the_transform() -> None:
    columns = [("id", "bigint"), ("status", "character(1)"), ("amount", "numeric"),
               ("email", "text"), ("internal_note", "text")]  # fmt: skip
    assert output_columns(STEPS, columns) == [
        ("id", "bigint"),
        ("status", "text"),  # mapped values may be longer than char(1)
        ("amount_usd", "numeric(12,2)"),
        ("email", "text"),
    ]


def test_empty_transform_changes_nothing() -> None:
    table = batch()
    assert apply(Transform(), table).equals(table)
