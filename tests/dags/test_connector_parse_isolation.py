"""A connector that cannot be built at parse time breaks only its own flow's DAG.

``build_dag`` asks the flow's target for its Asset and docs at parse time, which runs the
connector's factory (its implementation imports): an ImportError there (an optional client
library missing on the DAG processor) must become that flow's import error, never every flow's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from syncgate.connectors.base import Connector
from syncgate.connectors.registry import register, unregister
from syncgate.spec.fields import Name, TargetSpec

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]


class WarehouseTarget(TargetSpec):
    type: Literal["wh_test"]
    conn_id: Name
    table: Name
    write: Literal["merge"] = "merge"

    def state_connection(self) -> str:
        return self.conn_id


def _target_factory(spec: Any) -> Any:
    raise ImportError("No module named 'warehouse_client'")  # as `from mypkg.target import ...` would


@pytest.fixture
def broken_connector() -> Iterator[None]:
    register(Connector("wh_test", None, WarehouseTarget, None, _target_factory))
    try:
        yield
    finally:
        unregister("wh_test")


@pytest.mark.usefixtures("broken_connector")
def test_a_target_factory_failing_at_parse_time_breaks_only_its_own_flow(tmp_path: Path) -> None:
    from syncgate.dag_factory import build_dags

    good = (REPO / "dags" / "flows" / "erp_orders.yml").read_text()
    (tmp_path / "good.yml").write_text(good)
    (tmp_path / "warehouse.yml").write_text(
        "id: to_warehouse\n"
        "source: {type: postgres, conn_id: erp_db, table: public.orders, primary_key: [id]}\n"
        "target: {type: wh_test, conn_id: wh, table: orders}\n"
    )
    dags = build_dags(tmp_path)
    assert "erp_orders" in dags
    assert "to_warehouse" not in dags
