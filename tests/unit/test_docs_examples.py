"""The documentation's flow spec examples validate, and the make targets it names exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncgate.errors import SpecError
from syncgate.spec.loader import load_spec
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec, is_sync_spec

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
# A fragment (only `source:`, only `alerts:`, ...) is validated inside this flow.
BASE_SPEC: dict[str, Any] = {
    "id": "doc_example",
    "source": {
        "type": "postgres",
        "conn_id": "src_db",
        "table": "public.items",
        "primary_key": ["id"],
        "cursor": "updated_at",
    },
    "target": {"type": "postgres", "conn_id": "dst_db", "table": "public.items", "write": "merge"},
}
_YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)
_CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.M | re.S)


def spec_examples() -> list[Any]:
    """Every YAML block whose keys are all flow spec keys, with its page and position as id."""
    found = []
    for doc in DOCS:
        for i, block in enumerate(_YAML_BLOCK.findall(doc.read_text(encoding="utf-8"))):
            data = yaml.safe_load(block)
            model = SyncSpec if is_sync_spec(data) else FlowSpec
            flow_keys = {info.alias or name for name, info in model.model_fields.items()}
            if isinstance(data, dict) and set(data) <= flow_keys:
                found.append(pytest.param(block, id=f"{doc.relative_to(REPO).as_posix()}:{i}"))
    return found


def validate(block: str, folder: Path) -> None:
    """Load the example as a spec file, through the loader flows go through."""
    data = yaml.safe_load(block)
    # The example's own text is kept (the loader rejoins `numeric(12,2)`, which YAML splits);
    # a fragment gets the base flow's other top-level keys.
    base = {} if is_sync_spec(data) else {k: v for k, v in BASE_SPEC.items() if k not in data}
    text = (yaml.safe_dump(base, sort_keys=False) if base else "") + block
    path = folder / "example.yml"
    path.write_text(text, encoding="utf-8")
    load_spec(path)


@pytest.mark.parametrize("block", spec_examples())
def test_spec_example_validates(block: str, tmp_path: Path) -> None:
    validate(block, tmp_path)


def test_the_examples_are_found() -> None:
    where = {str(p.id).split(":")[0] for p in spec_examples()}
    assert {"README.md", "docs/spec.md", "docs/http.md"} <= where


def test_a_broken_example_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="tabel"):
        validate("source:\n  type: postgres\n  conn_id: src_db\n  tabel: public.items\n", tmp_path)


def test_named_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z_-]+):", makefile, re.M))
    named = set()
    for doc in DOCS:
        for code in _CODE.findall(doc.read_text(encoding="utf-8")):
            # A command line: `make demo`, `SYNCGATE_DEMO_EXIT=1 make demo`, not prose in a block.
            named |= set(re.findall(r"^\s*(?:[A-Z_]+=\S+\s+)*make ([a-z][a-z-]*)", code.strip("`"), re.M))
    assert {"demo", "test"} <= named
    assert named - targets == set()
