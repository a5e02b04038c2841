from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec
from syncgate.connectors.http.spec import HttpSource

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
