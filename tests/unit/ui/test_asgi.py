"""The UI app is built on its first request: loading the plugin costs a task process nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_the_plugin_module_imports_no_web_framework() -> None:
    # Every task process imports plugin modules (for macros): the UI must cost them nothing.
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    probe = (
        "import sys, syncgate_ui; "
        "print(sorted(m for m in ('fastapi', 'syncgate.ui.app', 'psycopg') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": f"{repo / 'include'}{os.pathsep}{repo / 'plugins'}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"  # Airflow may log before it
