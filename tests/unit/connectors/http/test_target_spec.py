"""``target.type: http``: keys, defaults and the combinations the spec refuses, with the field named."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec
from syncgate.connectors.http.spec import HttpTarget

pytestmark = pytest.mark.unit

VALID = """
id: crm_customers
source:
  type: postgres
  conn_id: erp_db
  table: public.customers
  primary_key: [id]
  cursor: updated_at
  columns: [id, name, email, status, updated_at, deleted_at]
  deletes: soft
  soft_delete_column: deleted_at
target:
  type: http
  conn_id: crm_api
  state_conn_id: syncgate_state
  endpoint: /v1/customers
  fields: [id, name, email, status]
  max_requests_per_second: 20
  pool: crm_api
"""


def spec_file(tmp_path: Path, **changes: object) -> Path:
    """The valid spec with dotted (``a__b``) keys replaced; None deletes the key."""
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
    path = tmp_path / "crm_flow.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_defaults_and_state_connection(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path))
    target = spec.target
    assert isinstance(target, HttpTarget)
    assert spec.state_conn_id == "syncgate_state"
    assert spec.target_id_field == "id"
    assert (target.methods.create, target.methods.update, target.methods.delete) == (
        "POST",
        "PATCH",
        "DELETE",
    )
    assert target.idempotency_header == "Idempotency-Key"
    assert target.batch is None and target.rejects.fail_run is True and target.write == "merge"
    assert target.pool_name == "crm_api"
    default = load_spec(spec_file(tmp_path, target__pool=None)).target
    assert isinstance(default, HttpTarget) and default.pool_name == "syncgate_crm_api"


def test_batch_and_explicit_keys(tmp_path: Path) -> None:
    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(VALID)
        + "  batch: {endpoint: /v1/customers/batch, size: 200}\n"
        + "  rejects: {fail_run: false}\n  idempotency_header: null\n  id_field: id\n"
    )
    target = load_spec(path).target
    assert isinstance(target, HttpTarget)
    assert target.batch is not None and target.batch.size == 200
    assert target.idempotency_header is None and target.rejects.fail_run is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"target__state_conn_id": None}, "target.state_conn_id", "Field required"),
        ({"target__endpoint": "https://crm.example.com/v1"}, "target.endpoint", ""),
        ({"target__endpoint": "/v1/customers?x=1"}, "target.endpoint", ""),
        ({"target__write": "append"}, "target", "`write: append` does not apply to an http target"),
        ({"target__write": "replace"}, "target", "merge semantics"),
        ({"target__methods": {"update": "POST"}}, "target.methods.update", "'PATCH' or 'PUT'"),
        ({"target__methods": {"delete": "POST"}}, "target.methods.delete", ""),
        (
            {"target__batch": {"endpoint": "/v1/customers/batch"}, "target__methods": {"update": "PUT"}},
            "target",
            "`methods` does not apply with `batch`",
        ),
        ({"target__batch": {"endpoint": "/v1/b", "size": 0}}, "target.batch.size", ""),
        ({"target__batch": {"size": 10}}, "target.batch.endpoint", "Field required"),
        ({"target__max_requests_per_second": 0}, "target.max_requests_per_second", ""),
        ({"target__fields": ["id", "id"]}, "target", "`fields` lists a column twice"),
        ({"target__fields": []}, "target", "`fields` is empty"),
        ({"target__fields": ["id", "phone"]}, "(top level)", "`target.fields` names unknown column(s) phone"),
        ({"target__fields": ["id", "deleted_at"]}, "(top level)", "cannot send the soft delete column"),
        ({"target__id_field": "crm_id"}, "(top level)", "`target.id_field` names unknown column crm_id"),
        ({"target__idempotency_header": "Bad Header"}, "target.idempotency_header", ""),
        ({"target__rejects": {"fail": True}}, "target.rejects.fail", "unknown key"),
        ({"target__url": "/x"}, "target.url", "unknown key"),
        ({"target__type": "ftp"}, "target", "unknown `type`; expected one of 'postgres', 'http'"),
        (
            {"source__primary_key": [], "source__deletes": "none", "source__soft_delete_column": None},
            "(top level)",
            "needs `source.primary_key`",
        ),
        (
            {"source__primary_key": ["id", "name"]},
            "(top level)",
            "`target.id_field` is required with a composite primary key",
        ),
        ({"transform": {"hash": ["id"]}}, "(top level)", "cannot be hashed"),
        ({"freshness": {"column": "name", "max_age": "2h"}}, "(top level)", "must be the cursor column"),
    ],
)
def test_invalid_http_targets_name_the_field(tmp_path: Path, changes: dict, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file(tmp_path, **changes))
    problems = caught.value.problems
    assert "crm_flow.yml" in str(caught.value)
    assert any(p.startswith(f"{field}:") for p in problems), problems
    assert message in str(caught.value)


def test_target_type_errors_never_echo_the_value(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file(tmp_path, target__type="s3cr3t-value"))
    assert "s3cr3t-value" not in str(caught.value)


def test_freshness_on_the_cursor(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, freshness={"column": "updated_at", "max_age": "2h"}))
    assert spec.freshness is not None and spec.freshness.column == spec.target_cursor


def test_postgres_targets_keep_their_state_on_the_target(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path, target={"type": "postgres", "conn_id": "warehouse_db", "table": "crm.customers"}
    )
    assert load_spec(path).state_conn_id == "warehouse_db"
