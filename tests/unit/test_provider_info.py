"""The provider metadata Airflow reads from the wheel's ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import json
import tomllib
from importlib import import_module
from pathlib import Path

import pytest

import syncgate
from syncgate.provider_info import get_provider_info

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_it_passes_airflows_own_schema() -> None:
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_it_names_the_distribution_and_its_version() -> None:
    # Airflow refuses a provider whose package-name differs from the distribution's name.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    info = get_provider_info()
    assert info["package-name"] == project["name"] == "syncgate"
    assert info["versions"] == [syncgate.__version__]
    assert project["entry-points"]["apache_airflow_provider"] == {
        "provider_info": "syncgate.provider_info:get_provider_info"
    }


def test_every_class_it_names_imports() -> None:
    for path in get_provider_info()["extra-links"]:
        module, _, name = path.rpartition(".")
        assert isinstance(getattr(import_module(module), name), type)


def test_it_lists_no_plugins_the_entry_points_already_register() -> None:
    # Listed here too, each plugin would load twice with lazy_discover_providers = False and be
    # reported as a plugin import error (tests/integration/test_wheel_install.py runs that case).
    assert "plugins" not in get_provider_info()
