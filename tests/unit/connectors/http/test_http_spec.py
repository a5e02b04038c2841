"""`source.type: http` and `target.type: http`: every key, the defaults, and the combinations the
spec refuses, with the field named."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncgate.connectors.http.spec import HttpSource, HttpTarget
from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec

pytestmark = pytest.mark.unit

# The public contract of `source.type: http`, key for key.
CONTRACT = """
id: crm_customers
source:
  type: http
  conn_id: crm_api
  endpoint: /v1/customers
  records: data.items
  primary_key: [id]
  cursor: updated_at
  cursor_param: updated_since
  params: {status: all}
  columns: [id, name, email, updated_at]
  max_requests_per_second: 10
  pagination:
    style: page
    page_param: page
    size_param: per_page
    size: 1000
target:
  type: postgres
  conn_id: warehouse_db
  table: crm.customers
"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "flow.yml"
    path.write_text(textwrap.dedent(text))
    return load_spec(path)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_the_contract_example_loads(tmp_path: Path) -> None:
    spec = load(tmp_path, CONTRACT)
    source = spec.source
    assert isinstance(source, HttpSource)
    assert source.pagination is not None and source.pagination.size == 1000
    assert source.pool_name == "syncgate_crm_api"
    assert source.schema_drift == "evolve" and source.rejects.fail_run is False
    assert spec.target_primary_key == ["id"]


def test_every_extension_key_loads(tmp_path: Path) -> None:
    text = CONTRACT.replace("  columns: [id, name, email, updated_at]\n", "").replace(
        "  max_requests_per_second: 10\n",
        """  max_requests_per_second: 10
  fields:
    city: address.city
    updated_at: {path: updated_at, type: timestamptz}
  pool: crm_shared
  timeout: 45s
  retry: {max_attempts: 3, backoff_seconds: 0.5, max_backoff_seconds: 10}
  rejects: {max_rejected: 5}
  schema_drift: freeze
  deletes: soft
  soft_delete_column: deleted
""",
    )
    source = load(tmp_path, text).source
    assert source.field_paths() == {
        "city": ("address.city", None),
        "updated_at": ("updated_at", "timestamptz"),
    }
    assert source.pool_name == "crm_shared" and source.timeout.total_seconds() == 45


@pytest.mark.parametrize(
    ("pagination", "message"),
    [
        ("{style: token, token_path: meta.next}", "`style: token` needs token_param"),
        ("{style: page}", "`style: page` needs page_param"),
        ("{style: offset, offset_param: o, size: 10}", "give `size_param` and `size` together"),
        ("{style: link, page_param: page}", "page_param do(es) not apply to `style: link`"),
        ("{style: page, page_param: p, token_param: c}", "token_param do(es) not apply"),
        ("{style: scroll}", "source.pagination.style"),
    ],
)
def test_pagination_is_validated_per_style(tmp_path: Path, pagination: str, message: str) -> None:
    text = CONTRACT.replace(
        "  pagination:\n    style: page\n    page_param: page\n    size_param: per_page\n    size: 1000\n",
        f"  pagination: {pagination}\n",
    )
    assert message in problems(tmp_path, text)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  primary_key: [id]\n",
            "  primary_key: [id]\n  deletes: hard\n",
            "`deletes: hard` is not available",
        ),
        ("  cursor: updated_at\n", "", "`cursor_param` needs `cursor`"),
        ("{status: all}", "{status: all, page: 2}", "`params` sets page"),
        ("endpoint: /v1/customers", "endpoint: https://x/v1", "source.endpoint"),
        (
            "columns: [id, name, email, updated_at]",
            "columns: [name, updated_at]",
            "`columns` must include id",
        ),
        ("  records: data.items\n", "  records: data..items\n", "source.records"),
        ("  conn_id: crm_api\n", "  conn_id: crm_api\n  table: x\n", "source.table: unknown key"),
    ],
)
def test_http_source_errors_name_the_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in CONTRACT
    assert message in problems(tmp_path, CONTRACT.replace(old, new))


def test_postgres_sources_still_load(tmp_path: Path) -> None:
    text = CONTRACT.split("source:")[0] + textwrap.dedent("""
        source:
          type: postgres
          conn_id: erp
          table: public.customers
          primary_key: [id]
        target:
          type: postgres
          conn_id: warehouse_db
          table: crm.customers
        """)
    assert load(tmp_path, text).source.type == "postgres"
    assert "source.endpoint: unknown key" in problems(
        tmp_path, text.replace("table: public", "endpoint: /x\n  table: public")
    )


# `target.type: http`

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
