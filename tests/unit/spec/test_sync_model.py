"""The two-way / multi-way spec: sides of any connector, fields, value maps and conflict rules."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec

pytestmark = pytest.mark.unit

MESH = """
id: airports_mesh
mode: multi_way
schedule: "*/5 * * * *"
sides:
  a: {type: postgres, conn_id: a_db, table: public.airports, primary_key: [faa], cursor: updated_at, deletes: hard}
  b: {type: postgres, conn_id: b_db, table: public.airports, primary_key: [faa], cursor: updated_at}
  c: {type: http, conn_id: c_api, endpoint: /v1/airports, primary_key: [faa], cursor: updated_at}
match: [faa]
fields:
  faa: {}
  name: {}
  tier: {b: priority}
  credit_limit: {c: null}
map_values:
  b: {tier: {high: "1", medium: "2", low: "3"}}
conflicts:
  default: newest_wins
  tie_break: [a, b, c]
  fields:
    name: {system_of_record: b}
    credit_limit: {version: tier}
    tier: manual
  deletes: update_wins
"""


def spec(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load(MESH)
    raw.update(changes)
    return raw


def problems(tmp_path: Path, raw: dict[str, Any]) -> list[str]:
    path = tmp_path / "flow.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_the_issue_s_mesh_spec_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yml"
    path.write_text(textwrap.dedent(MESH))
    loaded = load_spec(path)
    assert isinstance(loaded, SyncSpec)
    assert loaded.state_conn_id == "a_db"  # the first side that can hold state
    assert loaded.match_fields == ["faa"]
    assert loaded.tie_break == ("a", "b", "c")
    assert loaded.side("c").target.state_conn_id == "a_db"  # type: ignore[attr-defined]
    assert loaded.side("b").view.id == "airports_mesh__b"
    assert loaded.side("b").view.source.table == "public.airports"  # type: ignore[attr-defined]


def test_fields_and_value_maps_translate_both_ways() -> None:
    mesh = SyncSpec.model_validate(spec())
    assert mesh.field_columns("b", ["faa", "name", "priority", "credit_limit", "updated_at"]) == {
        "faa": "faa", "name": "name", "tier": "priority", "credit_limit": "credit_limit",
    }  # fmt: skip
    assert "credit_limit" not in mesh.field_columns("c", ["faa", "name", "tier", "credit_limit"])
    assert mesh.field_of("b", "priority") == "tier"
    assert mesh.field_of("b", "tier") is None
    assert (mesh.outbound("b", "tier", "high"), mesh.inbound("b", "tier", "1")) == ("1", "high")
    assert mesh.inbound("a", "tier", "1") == "1"  # no map for side a
    assert mesh.outbound("b", "tier", "unmapped") == "unmapped"


def test_without_fields_the_common_record_leaves_out_each_side_s_change_clock() -> None:
    raw = spec(fields=None, conflicts={}, map_values={})
    mesh = SyncSpec.model_validate(raw)
    assert mesh.field_columns("a", ["faa", "name", "updated_at"]) == {"faa": "faa", "name": "name"}


def test_one_way_specs_still_load_as_flow_specs(tmp_path: Path) -> None:
    path = tmp_path / "one.yml"
    path.write_text(
        "id: one\nsource: {type: postgres, conn_id: s, table: t, primary_key: [id]}\n"
        "target: {type: postgres, conn_id: d, table: t}\n"
    )
    assert isinstance(load_spec(path), FlowSpec)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mode": "two_way"}, "`mode: two_way` needs exactly 2 sides, found 3"),
        (
            {"sides": {"a": yaml.safe_load(MESH)["sides"]["a"], "b": yaml.safe_load(MESH)["sides"]["b"]}},
            "`mode: multi_way` needs 3 or more sides, found 2",
        ),
        (
            {"conflicts": {"default": "system_of_record"}},
            "conflicts.default: `system_of_record` needs its side",
        ),
        ({"conflicts": {"default": "version"}}, "conflicts.default: `version` needs its field"),
        ({"conflicts": {"default": "oldest_wins"}}, "conflicts.default: unknown rule 'oldest_wins'"),
        ({"conflicts": {"tie_break": ["a", "b"]}}, "conflicts.tie_break: must list every side once"),
        (
            {"conflicts": {"fields": {"name": {"system_of_record": "z"}}}},
            "conflicts.fields.name: names unknown side 'z'",
        ),
        ({"map_values": {"z": {}}}, "map_values.z: unknown side"),
        ({"match": ["iata"]}, "match: names field(s) not in `fields`: iata"),
        ({"pii": ["email"]}, "pii: names field(s) not in `fields`: email"),
        ({"fields": {"faa": {"q": "x"}}}, "fields.faa: names unknown side(s) q"),
    ],  # fmt: skip
)
def test_a_bad_sync_spec_names_its_field(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    found = problems(tmp_path, spec(**changes))
    assert any(expected in p for p in found), found


def test_side_errors_name_the_side_and_its_key(tmp_path: Path) -> None:
    raw = spec()
    raw["sides"]["a"]["bogus"] = 1
    assert problems(tmp_path, raw) == ["sides.a.bogus: unknown key"]
    raw = spec()
    del raw["sides"]["b"]["table"]
    assert problems(tmp_path, raw) == ["sides.b: give exactly one of `table` or `query`"]
    raw = spec()
    raw["sides"]["a"]["type"] = "ftp"
    assert problems(tmp_path, raw) == [
        "sides.a.type: 'ftp' is not a connector that is both a source and a target"
    ]


def test_a_query_cannot_be_a_side(tmp_path: Path) -> None:
    raw = spec()
    raw["sides"]["a"] = {
        "type": "postgres",
        "conn_id": "a_db",
        "query": "SELECT 1 AS faa",
        "table": "t",
        "primary_key": ["faa"],
    }
    assert any(
        "a side must name a table" in p or "exactly one of `table` or `query`" in p
        for p in problems(tmp_path, raw)
    )


def test_a_side_without_a_match_column_is_refused(tmp_path: Path) -> None:
    raw = spec()
    raw["fields"]["faa"] = {"c": None}
    assert "sides.c: has no column for match field(s) faa" in problems(tmp_path, raw)


def test_without_a_state_holding_side_state_conn_id_is_required(tmp_path: Path) -> None:
    raw = spec(mode="two_way")
    raw["sides"] = {
        "x": {"type": "http", "conn_id": "x_api", "endpoint": "/r", "primary_key": ["faa"]},
        "y": {"type": "http", "conn_id": "y_api", "endpoint": "/r", "primary_key": ["faa"]},
    }
    raw["conflicts"] = {}
    raw["map_values"] = {}
    raw["fields"] = None
    assert any("set `state_conn_id`" in p for p in problems(tmp_path, raw))
    raw["state_conn_id"] = "hub_db"
    path = tmp_path / "ok.yml"
    path.write_text(yaml.safe_dump(raw))
    loaded = load_spec(path)
    assert loaded.state_conn_id == "hub_db"
    assert loaded.side("x").target.state_conn_id == "hub_db"  # type: ignore[union-attr]


def test_a_side_s_state_id_cannot_be_another_flow_s_id(tmp_path: Path) -> None:
    from syncgate.spec.loader import load_specs

    raw = spec()
    (tmp_path / "a_mesh.yml").write_text(yaml.safe_dump(raw))
    (tmp_path / "b_one.yml").write_text(
        "id: airports_mesh__b\nsource: {type: postgres, conn_id: s, table: t, primary_key: [id]}\n"
        "target: {type: postgres, conn_id: d, table: t}\n"
    )
    loaded = {item.path.name: item for item in load_specs(tmp_path)}
    # Neither file owns the id (issue 13.1): both are refused, each naming both files.
    for name in ("a_mesh.yml", "b_one.yml"):
        assert loaded[name].spec is None
        assert loaded[name].error is not None
        assert loaded[name].error.problems == [
            "id: 'airports_mesh__b' is claimed by a_mesh.yml and b_one.yml: no DAG runs it until only one "
            "file does (remove or rename the copy)"
        ]


def test_a_field_rule_error_names_the_field(tmp_path: Path) -> None:
    found = problems(tmp_path, spec(conflicts={"fields": {"name": "system_of_record"}}))
    assert found == [
        "conflicts.fields: name: `system_of_record` needs its side: write `{system_of_record: <side>}`"
    ]


def test_a_sync_side_cannot_capture_from_the_log(tmp_path: Path) -> None:
    raw = spec()
    raw["sides"]["b"] = {
        "type": "postgres", "conn_id": "b_db", "table": "public.airports", "primary_key": ["faa"], "capture": "wal",
    }  # fmt: skip
    assert any("sides.b.capture: `wal` is for one-way flows" in p for p in problems(tmp_path, raw))
