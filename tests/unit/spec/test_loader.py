from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec, load_specs

pytestmark = pytest.mark.unit

VALID = """
id: erp_orders
description: Orders from the ERP into the warehouse.
owner: data-platform
tags: [erp]
schedule: "*/15 * * * *"
source:
  type: postgres
  conn_id: erp_db
  table: public.orders
  primary_key: [id]
  cursor: updated_at
  columns: [id, customer_id, status, amount, updated_at, email, internal_note]
  deletes: hard
target:
  type: postgres
  conn_id: warehouse_db
  table: analytics.orders
  write: merge
transform:
  rename: {amount: amount_usd}
  cast: {amount_usd: numeric(12,2)}
  map_values: {status: {P: pending, S: shipped, X: cancelled}}
  hash: [email]
  drop: [internal_note]
quality:
  expectations:
    - type: expect_column_values_to_be_in_set
      kwargs: {column: status, value_set: [pending, shipped, cancelled]}
freshness: {column: updated_at, max_age: 2h}
"""


def write(tmp_path: Path, text: str, name: str = "flow.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def edited(**changes: object) -> str:
    """The valid spec with top-level or dotted keys replaced (None deletes)."""
    import yaml

    data = yaml.safe_load(VALID)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    assert spec.id == "erp_orders"
    assert spec.target_primary_key == ["id"]
    assert spec.schedule == "*/15 * * * *"
    assert spec.freshness is not None and spec.freshness.max_age.total_seconds() == 7200
    assert spec.transform.cast == {"amount_usd": "numeric(12,2)"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"source__tabel": "x"}, "source.tabel", "unknown key"),
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"source__primary_key": [], "source__deletes": "none"}, "(top level)", "needs `source.primary_key`"),
        ({"schedule": "61 * * * *"}, "schedule", "not a cron expression"),
        (
            {"quality__expectations": [{"type": "expect_column_values_to_be_purple", "kwargs": {}}]},
            "quality.expectations.0.type",
            "unknown Great Expectations expectation type",
        ),
        ({"source__query": "select 1"}, "source", "exactly one of `table` or `query`"),
        ({"source__deletes": "soft"}, "source", "needs `soft_delete_column`"),
        ({"transform__drop": ["id"]}, "(top level)", "removes id"),
        ({"transform__hash": ["nope"]}, "(top level)", "`transform.hash` names unknown column(s) nope"),
        ({"transform__cast": {"amount": "numeric(12,2)"}}, "(top level)", "use the names after `rename`"),
        ({"freshness": {"column": "updated_at", "max_age": "soon"}}, "freshness.max_age", "not a duration"),
        ({"transform__cast": {"amount_usd": "numeric; drop table x"}}, "transform.cast.amount_usd", ""),
        ({"target__write": "upsert"}, "target.write", ""),
        ({"id": "Bad-Id"}, "id", ""),
        ({"source__columns": ["id", "status"]}, "source", "must include updated_at"),
        ({"target__write": "replace"}, "(top level)", "cannot be combined with an incremental"),
        ({"transform__hash": ["id"]}, "(top level)", "cannot be hashed or value-mapped"),
        ({"transform__hash": ["status"]}, "(top level)", "cannot be both hashed and value-mapped"),
        ({"id": "a" * 41}, "id", "at most 40 characters"),
        (
            {"transform__cast": {"amount_usd": "int generated always as identity"}},
            "transform.cast.amount_usd",
            "",
        ),
        ({"transform__cast": {"amount_usd": "text references other"}}, "transform.cast.amount_usd", ""),
    ],
)
def test_invalid_specs_name_file_and_field(tmp_path: Path, changes: dict, field: str, message: str) -> None:
    path = write(tmp_path, edited(**changes), "broken_flow.yml")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    text = str(caught.value)
    assert "broken_flow.yml" in text
    assert any(p.startswith(f"{field}:") for p in caught.value.problems), caught.value.problems
    assert message in text


def test_errors_never_echo_values(tmp_path: Path) -> None:
    path = write(tmp_path, edited(source__password="hunter2-secret"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "hunter2-secret" not in str(caught.value)
    assert "source.password: unknown key" in str(caught.value)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read YAML"):
        load_spec(write(tmp_path, "id: [unclosed"))
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(write(tmp_path, "- just\n- a list\n"))


def test_suite_file_is_inlined_and_checked(tmp_path: Path) -> None:
    suite = {
        "name": "orders",
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
    }
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "orders.json").write_text(json.dumps(suite))
    spec = load_spec(write(tmp_path, edited(quality={"suite": "suites/orders.json"})))
    assert [e.type for e in spec.quality.expectations] == ["expect_column_values_to_not_be_null"]
    with pytest.raises(SpecError, match="quality.suite: cannot read"):
        load_spec(write(tmp_path, edited(quality={"suite": "suites/missing.json"})))


def test_one_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a_good.yml")
    write(tmp_path, edited(schedule="every tuesday"), "b_bad.yml")
    write(tmp_path, VALID, "c_duplicate.yml")
    loaded = load_specs(tmp_path)
    assert [p.path.name for p in loaded] == ["a_good.yml", "b_bad.yml", "c_duplicate.yml"]
    assert loaded[0].spec is not None
    assert loaded[1].error is not None and "schedule" in str(loaded[1].error)
    assert loaded[2].error is not None and "already used by a_good.yml" in str(loaded[2].error)


def test_an_http_field_type_with_a_scale_survives_a_yaml_flow_mapping(tmp_path: Path) -> None:
    # `{path: p, type: numeric(12,2)}`: YAML's flow mapping splits at the comma.
    text = """
id: crm_customers
source:
  type: http
  conn_id: crm_api
  endpoint: /v1/customers
  primary_key: [id]
  fields:
    ltv: {path: lifetime_value, type: numeric(12,2)}
    label: {path: label, type: "character varying(20)"}
target: {type: postgres, conn_id: wh, table: crm.customers}
"""
    spec = load_spec(write(tmp_path, text))
    fields = spec.source.field_paths()  # type: ignore[union-attr]
    assert fields == {"ltv": ("lifetime_value", "numeric(12,2)"), "label": ("label", "character varying(20)")}


# -- review: a registered (third-party) connector's spec errors name the field as built-in ones do --


def test_review_a_registered_connectors_field_error_names_the_field_without_the_type_tag(
    tmp_path: Path,
) -> None:
    """writing-a-connector.md: "`type: mytype` validates with your model's own field errors".

    spec/loader.py strips the discriminated union's tag from the error location only for the
    hard-coded ``_TYPE_TAGS = ("postgres", "http")``: a registered connector's errors read
    ``source.review_tag.path`` where a built-in one reads ``source.table``.
    """
    from typing import Literal

    from pydantic import Field

    from syncgate.connectors.base import Connector
    from syncgate.connectors.registry import register, unregister
    from syncgate.spec.fields import Name, SourceSpec

    class ReviewTagSource(SourceSpec):
        type: Literal["review_tag"]
        conn_id: Name
        path: str
        primary_key: list[Name] = Field(default_factory=list)
        cursor: Name | None = None
        columns: list[Name] | None = None
        deletes: Literal["none"] = "none"
        soft_delete_column: None = None

    register(Connector("review_tag", ReviewTagSource, None, lambda s: s, None))
    try:
        path = tmp_path / "third_party.yml"
        path.write_text(
            textwrap.dedent(
                """
                id: third_party
                source: {type: review_tag, conn_id: files}
                target: {type: postgres, conn_id: dst, table: public.t, write: append}
                """
            )
        )
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        assert caught.value.problems == ["source.path: Field required"]
    finally:
        unregister("review_tag")
