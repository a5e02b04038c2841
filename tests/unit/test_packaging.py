"""The wheel's metadata (pyproject.toml) agrees with the pins in requirements.txt."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# Pinned for the checkout's demo only (include/demo/crm), not needed by the engine.
DEMO_ONLY = {"uvicorn"}


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)==(\S+)", line).groups()  # type: ignore[union-attr]
            found[canonicalize_name(Requirement(name).name)] = version
    return found


def dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}


def test_every_runtime_pin_is_a_dependency_of_the_wheel_and_satisfies_it() -> None:
    declared = dependencies()
    assert set(pins()) - DEMO_ONLY == set(declared)
    for name, version in pins().items():
        if name not in DEMO_ONLY:
            assert declared[name].specifier.contains(version), f"{name}=={version} vs {declared[name]}"


def test_the_version_has_one_source() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "include/syncgate/__init__.py"


def test_the_wheel_holds_the_engine_package_only() -> None:
    targets = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    assert targets["wheel"]["packages"] == ["include/syncgate"]
