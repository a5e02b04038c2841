"""The plugin classes: valid for Airflow, declared as the wheel's entry points, re-exported by plugins/."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from syncgate import plugins

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PLUGIN_CLASSES = {"syncgate_ui": plugins.SyncgateUiPlugin, "syncgate_links": plugins.SyncgateLinksPlugin}


def test_the_wheel_declares_each_plugin_class_under_its_name() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "airflow.plugins"
    ]
    assert declared == {name: f"syncgate.plugins:{cls.__name__}" for name, cls in PLUGIN_CLASSES.items()}
    assert {name: cls.name for name, cls in PLUGIN_CLASSES.items()} == {name: name for name in PLUGIN_CLASSES}


def test_airflow_accepts_them_as_plugins() -> None:
    from airflow.plugins_manager import is_valid_plugin

    assert all(is_valid_plugin(cls) for cls in PLUGIN_CLASSES.values())
    assert plugins.SyncgateUiPlugin.fastapi_apps[0]["url_prefix"] == "/syncgate"
    assert [type(link).__name__ for link in plugins.SyncgateLinksPlugin.operator_extra_links] == [
        "SyncReportLink"
    ]


def test_the_checkout_plugins_folder_only_imports_them() -> None:
    # plugins/ registers the same classes (a checkout's deployment); no second definition to drift.
    for path in sorted((REPO / "plugins").glob("*.py")):
        tree = ast.parse(path.read_text())
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)], path.name
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
        }
        assert imported & {cls.__name__ for cls in PLUGIN_CLASSES.values()}, path.name
