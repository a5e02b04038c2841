"""The UI's flows: the deployment's specs, loaded again only when a spec file changes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from syncgate.ui.flows import current_flows

pytestmark = pytest.mark.unit


def write_spec(folder: Path, flow_id: str, tags: list[str]) -> Path:
    path = folder / f"{flow_id}.yml"
    path.write_text(
        textwrap.dedent(f"""
            id: {flow_id}
            tags: {tags}
            source: {{type: postgres, conn_id: src, table: public.{flow_id}, primary_key: [id]}}
            target: {{type: postgres, conn_id: dst, table: public.{flow_id}}}
        """)
    )
    return path


def test_valid_specs_are_listed_by_id_and_broken_files_by_name(tmp_path: Path) -> None:
    write_spec(tmp_path, "orders", ["erp", "sales"])
    write_spec(tmp_path, "customers", ["erp"])
    (tmp_path / "broken.yml").write_text("id: broken\nsource: {type: nosuch}\n")
    (tmp_path / "notes.txt").write_text("not a spec")
    flows = current_flows(tmp_path)
    assert list(flows.specs) == ["customers", "orders"] and flows.broken == ["broken.yml"]
    assert flows.tags == ["erp", "sales"]


def test_unchanged_files_are_not_loaded_again(tmp_path: Path) -> None:
    write_spec(tmp_path, "orders", [])
    assert current_flows(tmp_path) is current_flows(tmp_path)


def test_an_added_changed_or_removed_spec_file_is_seen(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "orders", ["a"])
    first = current_flows(tmp_path)
    write_spec(tmp_path, "customers", [])
    second = current_flows(tmp_path)
    assert set(second.specs) == {"orders", "customers"}
    write_spec(tmp_path, "orders", ["b"])
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a change within the clock's resolution
    assert current_flows(tmp_path).specs["orders"].tags == ["b"] and first.specs["orders"].tags == ["a"]
    path.unlink()
    assert list(current_flows(tmp_path).specs) == ["customers"]


def test_a_missing_folder_has_no_flows(tmp_path: Path) -> None:
    flows = current_flows(tmp_path / "nowhere")
    assert flows.specs == {} and flows.broken == []


def test_the_default_folder_is_the_configured_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_spec(tmp_path, "orders", [])
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(tmp_path))
    assert list(current_flows().specs) == ["orders"]
