from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.drift import SchemaDriftError, SchemaTracker, classify

pytestmark = pytest.mark.unit

REFERENCE = {
    "id": {"kind": "integer", "type": "bigint"},
    "tier": {"kind": "integer", "type": "bigint"},
    "name": {"kind": "string", "type": "text"},
}


def tracker(policy: Any = "evolve", reference: Any = REFERENCE, **kwargs: Any) -> SchemaTracker:
    return SchemaTracker("f", policy, reference, kwargs.pop("declared", {}), kwargs.pop("keep", None))


def test_classification() -> None:
    assert classify("added") == "non_breaking"
    assert classify("removed", "bigint") == "breaking"
    assert classify("type_changed", "integer", "number") == "non_breaking"  # widening
    assert classify("type_changed", "integer", "string") == "breaking"
    assert classify("type_changed", "number", "integer") == "breaking"


def test_first_run_has_no_drift_and_infers_types() -> None:
    t = tracker(reference=None, declared={"seen": "timestamptz"})
    t.admit({"id": 1, "score": 1.5, "tags": ["a"], "seen": "2026-01-01T00:00:00Z", "note": None})
    assert t.finish(1) == []
    assert t.columns == [
        ("id", "bigint"), ("score", "double precision"), ("tags", "jsonb"), ("seen", "timestamptz"), ("note", "text"),
    ]  # fmt: skip
    assert t.schema()["score"] == {"type": "double precision", "kind": "number"}


def test_evolve_adds_new_fields_and_reports_removed_and_retyped() -> None:
    t = tracker()
    t.admit({"id": 1, "tier": "3", "loyalty": 7})
    changes = t.finish(1)
    assert [(c["change"], c["field"], c["classification"], c["action"]) for c in changes] == [
        ("type_changed", "tier", "breaking", "values coerced to the column type"),
        ("added", "loyalty", "non_breaking", "column added"),
        ("removed", "name", "breaking", "not landed"),
    ]
    assert t.columns == [("id", "bigint"), ("tier", "bigint"), ("loyalty", "bigint")]  # tier keeps its type
    schema = t.schema()
    assert schema["name"] == {"kind": "string", "type": "text", "absent": True}
    assert schema["tier"]["kind"] == "string"


def test_a_field_reported_missing_once_is_not_reported_again() -> None:
    reference = {**REFERENCE, "name": {**REFERENCE["name"], "absent": True}}
    t = tracker(reference=reference)
    t.admit({"id": 1, "tier": 2})
    assert t.finish(1) == []


def test_discard_drops_new_fields() -> None:
    t = tracker("discard")
    t.admit({"id": 1, "tier": 1, "name": "a", "loyalty": 7})
    t.admit({"id": 2, "tier": 1, "name": "b", "loyalty": 8})
    changes = t.finish(2)
    assert [(c["change"], c["field"], c["action"]) for c in changes] == [("added", "loyalty", "discarded")]
    assert "loyalty" not in dict(t.columns) and "loyalty" not in t.schema()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": 1, "tier": 1, "name": "a", "x": 1}, "added field 'x'"),
        ({"id": 1, "tier": "1", "name": "a"}, r"type_changed field 'tier' \(integer -> string\)"),
    ],
)
def test_freeze_fails_on_any_change(row: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaDriftError, match=message):
        tracker("freeze").admit(row)


def test_freeze_fails_on_a_missing_field() -> None:
    t = tracker("freeze")
    t.admit({"id": 1, "tier": 1})
    with pytest.raises(SchemaDriftError, match="removed field 'name'"):
        t.finish(1)


def test_an_empty_batch_keeps_the_known_columns_and_reports_nothing() -> None:
    t = tracker()
    assert t.finish(0, ["id"]) == []
    assert t.columns == [("id", "bigint"), ("tier", "bigint"), ("name", "text")]


def test_columns_limit_what_lands_and_what_drifts() -> None:
    t = tracker(keep=["id", "tier"])
    t.admit({"id": 1, "tier": 2, "brand_new": 1})
    assert t.finish(1) == [] and t.columns == [("id", "bigint"), ("tier", "bigint")]


def test_an_inferred_integer_column_widens_when_a_fraction_follows() -> None:
    # JSON has one number type: `5` then `7.5` is a number column, not a bigint rejecting 7.5.
    t = tracker(reference=None, declared={"fixed": "bigint"})
    t.admit({"id": 1, "score": 5, "fixed": 1})
    t.admit({"id": 2, "score": 7.5, "fixed": 2.5})
    assert dict(t.columns) == {"id": "bigint", "score": "double precision", "fixed": "bigint"}
    # A remembered type is kept: a retyped field keeps its column type (values are coerced).
    t = tracker(reference={"score": {"kind": "integer", "type": "bigint"}})
    t.admit({"score": 5})
    t.admit({"score": 7.5})
    assert dict(t.columns) == {"score": "bigint"}
