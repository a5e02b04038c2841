from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgate.errors import SpecError
from syncgate.spec.loader import RESERVED_DAG_IDS, load_spec, load_specs

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
    write(tmp_path, edited(id="other_flow", schedule="every tuesday"), "b_bad.yml")
    write(tmp_path, edited(id="third_flow"), "c_good.yml")
    loaded = load_specs(tmp_path)
    assert [p.path.name for p in loaded] == ["a_good.yml", "b_bad.yml", "c_good.yml"]
    assert loaded[0].spec is not None and loaded[2].spec is not None
    assert loaded[1].error is not None and "schedule" in str(loaded[1].error)


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


# -- issue 13.1: an id claimed by two files is stopped in both, never given to one of them --

SYNC = """
id: two_way_flow
mode: two_way
state_conn_id: warehouse_db
sides:
  a: {type: postgres, conn_id: a_db, table: public.a_items, primary_key: [id], cursor: updated_at}
  b: {type: postgres, conn_id: b_db, table: public.b_items, primary_key: [id], cursor: updated_at}
"""
_FILE_NAMES = st.lists(
    st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,12}", fullmatch=True).map(lambda n: n.lstrip("_")),
    min_size=2,
    max_size=5,
    unique=True,
).filter(lambda names: all(n and not n.startswith("_") for n in names))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=_FILE_NAMES,
    suffixes=st.lists(st.sampled_from([".yml", ".yaml"]), min_size=5, max_size=5),
    broken=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_an_id_claimed_by_several_files_loads_from_none_of_them(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], suffixes: list[str], broken: list[bool]
) -> None:
    folder = tmp_path_factory.mktemp("flows")
    files = [f"{name}{suffix}" for name, suffix in zip(names, suffixes, strict=False)]
    # The first file is the original; every other file is a copy (some with a typo of their own).
    for i, name in enumerate(files):
        text = edited(schedule="every tuesday") if i and broken[i] else VALID
        (folder / name).write_text(text)
    write(folder, edited(id="bystander"), "zz_bystander.yml")
    loaded = {item.path.name: item for item in load_specs(folder)}
    assert loaded["zz_bystander.yml"].spec is not None
    for name in files:
        item = loaded[name]
        assert item.spec is None, f"{name} got the flow though {len(files)} files claim its id"
        problem = next(p for p in item.error.problems if p.startswith("id: 'erp_orders' is claimed by"))  # type: ignore[union-attr]
        assert all(other in problem for other in files), problem


@pytest.mark.parametrize(
    ("one_way_id", "clash"),
    [("two_way_flow__a", "two_way_flow__a"), ("two_way_flow", "two_way_flow")],
)
def test_a_sync_sides_id_counts_as_claimed(tmp_path: Path, one_way_id: str, clash: str) -> None:
    write(tmp_path, SYNC, "sync.yml")
    write(tmp_path, edited(id=one_way_id), "one_way.yml")
    loaded = {item.path.name: item for item in load_specs(tmp_path)}
    for name in ("sync.yml", "one_way.yml"):
        assert loaded[name].spec is None
        assert f"id: {clash!r} is claimed by one_way.yml and sync.yml" in str(loaded[name].error)


@pytest.mark.parametrize("dag_id", ["syncgate_invalid_specs", "syncgate_freshness_monitor"])
def test_the_ids_of_syncgates_own_dags_are_not_flow_ids(tmp_path: Path, dag_id: str) -> None:
    from syncgate.dag_factory import INVALID_SPECS_DAG_ID
    from syncgate.observe.monitor_dag import MONITOR_DAG_ID

    assert {INVALID_SPECS_DAG_ID, MONITOR_DAG_ID} == RESERVED_DAG_IDS
    write(tmp_path, edited(id=dag_id), "own.yml")
    [item] = load_specs(tmp_path)
    assert item.spec is None and "a DAG syncgate itself registers" in str(item.error)


def test_the_issues_copied_spec_takes_over_nothing(tmp_path: Path) -> None:
    """aa_dup.yml, a copy with `write: replace`, sorted before the original: neither loads."""
    write(tmp_path, VALID, "erp_orders.yml")
    write(tmp_path, edited(target__write="replace", source__cursor=None), "aa_dup.yml")
    loaded = load_specs(tmp_path)
    assert [item.spec for item in loaded] == [None, None]
    for item in loaded:
        assert "'erp_orders' is claimed by aa_dup.yml and erp_orders.yml" in str(item.error)


# -- issue 13.3: a hostile spec is one import error, cheap to produce --


def test_an_alias_bomb_under_expectation_meta_is_refused_naming_the_file(tmp_path: Path) -> None:
    levels = ["      meta:", "        l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"        l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = textwrap.dedent(VALID).replace(
        "      kwargs: {column: status, value_set: [pending, shipped, cancelled]}",
        "      kwargs: {column: status, value_set: [pending, shipped, cancelled]}\n" + "\n".join(levels),
    )
    assert "*l7" in text
    path = tmp_path / "bomb.yml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"bomb\.yml(.|\n)*expands to more than"):
        load_spec(path)


def test_an_oversized_spec_or_suite_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCGATE_SPEC_MAX_BYTES", "4000")
    padded = write(tmp_path, VALID + "\n# " + "x" * 5000 + "\n", "padded.yml")
    with pytest.raises(SpecError, match=r"padded\.yml(.|\n)*SYNCGATE_SPEC_MAX_BYTES"):
        load_spec(padded)
    (tmp_path / "suites").mkdir()
    expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
    (tmp_path / "suites" / "big.json").write_text(json.dumps({"expectations": [expectation] * 200}))
    with pytest.raises(SpecError, match=r"quality\.suite: .*big\.json.*SYNCGATE_SPEC_MAX_BYTES"):
        load_spec(write(tmp_path, edited(quality={"suite": "suites/big.json"})))


def test_a_spec_over_its_time_budget_is_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncgate.spec.bounded_yaml import SpecBudget

    path = write(tmp_path, VALID)
    with pytest.raises(SpecError, match=r"flow\.yml(.|\n)*SYNCGATE_SPEC_BUDGET_SECONDS"):
        load_spec(path, SpecBudget(-1.0))


def test_a_deeply_nested_suite_file_is_its_own_error_and_the_other_flows_load(tmp_path: Path) -> None:
    """FAILS ON MAIN (review finding 2c): a 400 kB suite file nested 200,000 deep makes
    json.loads raise RecursionError, which load_spec does not catch: load_specs raises, the DAG
    file fails to import and every flow disappears."""
    depth = 200_000
    (tmp_path / "deep.json").write_text(
        '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, '
        '"meta": ' + "[" * depth + "]" * depth + "}]}"
    )
    write(tmp_path, VALID, "a_good.yml")
    write(tmp_path, edited(id="deep_flow", quality={"suite": "deep.json"}), "b_deep.yml")
    loaded = load_specs(tmp_path)  # main: RecursionError
    assert loaded[0].spec is not None
    assert loaded[1].spec is None and "quality.suite" in str(loaded[1].error)
