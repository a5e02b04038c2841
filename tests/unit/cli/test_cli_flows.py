"""Which flows the command line works on: sync specs only, grouped by state database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncgate.cli.flows import CliError, by_state_database, sync_flows

pytestmark = pytest.mark.unit


def sync_spec(flow_id: str, state: str | None = None) -> str:
    spec = {
        "id": flow_id,
        "mode": "two_way",
        "sides": {
            "a": {
                "type": "postgres",
                "conn_id": "a_db",
                "table": "public.t",
                "primary_key": ["id"],
                "cursor": "u",
            },
            "b": {
                "type": "postgres",
                "conn_id": "b_db",
                "table": "public.t",
                "primary_key": ["id"],
                "cursor": "u",
            },
        },
    }
    if state:
        spec["state_conn_id"] = state
    return json.dumps(spec)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "z_sync.yml").write_text(sync_spec("z_sync"))
    (tmp_path / "a_sync.yml").write_text(sync_spec("a_sync", "hub_db"))
    (tmp_path / "m_sync.yml").write_text(sync_spec("m_sync"))
    (tmp_path / "one_way.yml").write_text(
        json.dumps({"id": "one_way", "source": {"type": "postgres", "conn_id": "a_db", "table": "public.o",
                    "primary_key": ["id"]}, "target": {"type": "postgres", "conn_id": "b_db", "table": "public.o"}})
    )  # fmt: skip
    return tmp_path


def test_only_sync_flows_sorted_by_id(folder: Path) -> None:
    assert [s.id for s in sync_flows(folder)] == ["a_sync", "m_sync", "z_sync"]
    assert [s.id for s in sync_flows(folder, "m_sync")] == ["m_sync"]


def test_a_one_way_flow_has_no_conflict_log(folder: Path) -> None:
    with pytest.raises(CliError, match="'one_way' is a one-way flow") as info:
        sync_flows(folder, "one_way")
    assert not info.value.unavailable


def test_grouped_by_the_connection_holding_their_state(folder: Path) -> None:
    groups = by_state_database(sync_flows(folder))
    assert {conn: [s.id for s in specs] for conn, specs in groups.items()} == {
        "a_db": ["m_sync", "z_sync"],
        "hub_db": ["a_sync"],
    }
    assert list(groups) == ["a_db", "hub_db"]
