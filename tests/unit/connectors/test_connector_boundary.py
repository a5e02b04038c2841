"""The connector boundary holds: outside ``syncgate.connectors`` no code asks which system type
it holds, so adding a connector is one new package and its registration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ENGINE = REPO / "include" / "syncgate"
CONNECTORS = ENGINE / "connectors"

# A type test on a connector's spec or implementation class, or a comparison with a type name.
TYPE_TESTS = re.compile(
    r"isinstance\([^)]*\b(Http|Postgres)\w*(Source|Target)\b"
    r"|\.type\s+(not\s+)?in\b"
    # A connector's type name as a string anywhere (a match case, a tuple of tags, a dict key).
    r"|['\"](http|postgres)['\"]"
)
# Strings that are not connector types: an ASGI middleware kind and libpq's default database.
NOT_A_TYPE = ('@app.middleware("http")', '"dbname": "postgres"')
# Connector classes imported by name: a stage holding one would be a stage knowing the type.
CONNECTOR_CLASSES = re.compile(r"import[^\n]*\b(Http|Postgres)(Source|Target)\b")


def engine_files_outside_connectors() -> list[Path]:
    """The engine, the DAG files and the Airflow plugin, less the connectors themselves."""
    files = [*ENGINE.rglob("*.py"), *(REPO / "dags").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
    return [p for p in sorted(files) if CONNECTORS not in p.parents]


def offending_lines(pattern: re.Pattern[str]) -> list[str]:
    found = []
    for path in engine_files_outside_connectors():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not any(allowed in line for allowed in NOT_A_TYPE):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


@pytest.mark.unit
def test_no_code_outside_connectors_tests_a_connector_type() -> None:
    assert offending_lines(TYPE_TESTS) == []


@pytest.mark.unit
def test_no_code_outside_connectors_imports_a_connector_class() -> None:
    assert offending_lines(CONNECTOR_CLASSES) == []


@pytest.mark.unit
@pytest.mark.parametrize(
    "line",
    [
        "if isinstance(spec.target, HttpTarget):",
        "if spec.source.type == 'http':",
        'if spec.source.type != "postgres":',
        "from syncgate.connectors.http.spec import HttpSource",
    ],
)
def test_the_checks_catch_a_type_branch(line: str) -> None:
    assert TYPE_TESTS.search(line) or CONNECTOR_CLASSES.search(line)


@pytest.mark.unit
@pytest.mark.parametrize(
    "line",
    [
        # As observe/probe.py branched before the connector boundary.
        'if getattr(target, "type", None) == "http":',
        "if spec.target.type in {'http', 'postgres'}:",
        "case 'http':",
        '_TYPE_TAGS = ("postgres", "http")',  # a hard-coded list of the known types
    ],
)
def test_the_checks_catch_other_spellings_of_a_type_branch(line: str) -> None:
    assert TYPE_TESTS.search(line) or CONNECTOR_CLASSES.search(line)
