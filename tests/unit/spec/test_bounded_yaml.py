"""Hostile YAML is refused before it costs more than its bounds: size, alias expansion, time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncgate.spec.bounded_yaml import FolderBudget, SpecBudget, SpecTooCostly, load_yaml, read_text

pytestmark = pytest.mark.unit

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def alias_bomb(depth: int, width: int, key: str = "meta", flow: bool = True) -> str:
    """A "billion laughs": level i is ``width`` aliases of level i-1; ``width ** depth`` leaves."""
    lines = [f"{key}:", "  l0: &l0 " + ("[x]" if flow else "\n    - x")]
    for level in range(1, depth + 1):
        refs = [f"*l{level - 1}"] * width
        if flow:
            lines.append(f"  l{level}: &l{level} [{', '.join(refs)}]")
        else:
            lines.append(f"  l{level}: &l{level}")
            lines.extend(f"    - {ref}" for ref in refs)
    return "\n".join(lines) + "\n"


def expanded_size(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(expanded_size(k) + expanded_size(v) for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(expanded_size(v) for v in value)
    return 1


@_SETTINGS
@given(
    depth=st.integers(min_value=2, max_value=30),
    width=st.integers(min_value=2, max_value=12),
    flow=st.booleans(),
    key=st.sampled_from(["meta", "quality", "kwargs", "x"]),
)
def test_an_alias_expansion_over_the_bound_is_refused_without_expanding(
    depth: int, width: int, flow: bool, key: str
) -> None:
    limit = 5_000
    text = alias_bomb(depth, width, key, flow)
    leaves = width**depth
    start = time.process_time()
    if leaves > limit:  # the expansion alone is over the bound (up to 12 ** 30 values)
        with pytest.raises(SpecTooCostly, match="SYNCGATE_SPEC_MAX_NODES"):
            load_yaml(text, max_nodes=limit)
    else:  # small enough to expand here: refused exactly when the expansion is over the bound
        expected = yaml.safe_load(text)
        if expanded_size(expected) <= limit:
            assert load_yaml(text, max_nodes=limit) == expected
        else:
            with pytest.raises(SpecTooCostly):
                load_yaml(text, max_nodes=limit)
    # Counting is linear in the text, however large the expansion (12 ** 30 leaves): no timing
    # assertion (shared machine), but a runaway expansion would not finish this test at all.
    assert time.process_time() - start < 60


# Documents built from a pool of anchored values reused by aliases, nested at random.
_SCALARS = st.one_of(st.integers(-5, 5), st.text("abc", max_size=3), st.booleans(), st.none())


@st.composite
def aliased_documents(draw: st.DrawFn) -> str:
    anchors: list[str] = []
    lines: list[str] = ["root:"]
    for index in range(draw(st.integers(1, 8))):
        name = f"a{index}"
        parts = [
            f"*{draw(st.sampled_from(anchors))}" if anchors and draw(st.booleans()) else repr(draw(_SCALARS))
            for _ in range(draw(st.integers(0, 6)))
        ]
        parts = [p.replace("None", "null").replace("'", '"') for p in parts]
        lines.append(f"  k{index}: &{name} [{', '.join(parts)}]")
        anchors.append(name)
    if draw(st.booleans()):  # a merge key, the common legitimate use of aliases
        lines.append("  base: &base {x: 1, y: [1, 2]}")
        lines.append("  derived: {<<: *base, z: 3}")
    return "\n".join(lines) + "\n"


@_SETTINGS
@given(text=aliased_documents(), limit=st.integers(1, 400))
def test_aliases_within_the_bound_load_as_pyyaml_loads_them_and_above_are_refused(
    text: str, limit: int
) -> None:
    expected = yaml.safe_load(text)
    size = expanded_size(expected)
    # The bound counts parser nodes: a merge key (`<<: *base`) is 2 nodes more than the merged
    # mapping it builds, so within 2 of the bound either answer is right.
    if size <= limit - 2:
        assert load_yaml(text, max_nodes=limit) == expected
    elif size > limit:
        with pytest.raises(SpecTooCostly):
            load_yaml(text, max_nodes=limit)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",
        "a: &a {k: *a}\n",
        "a: &a [1, [2, {deep: *a}]]\n",
        "a: &a {<<: *a}\n",
    ],
)
def test_an_alias_cycle_is_refused(text: str) -> None:
    with pytest.raises(SpecTooCostly, match="cycle"):
        load_yaml(text)


def test_scalars_and_empty_documents_load() -> None:
    assert load_yaml("") is None
    assert load_yaml("just text") == "just text"
    assert load_yaml("a: &x 1\nb: *x\n") == {"a": 1, "b": 1}


def test_a_file_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(SpecTooCostly, match=r"2,004 bytes, more than the 1,000.*SYNCGATE_SPEC_MAX_BYTES"):
        read_text(path, max_bytes=1000)
    monkeypatch.setenv("SYNCGATE_SPEC_MAX_BYTES", "100")
    with pytest.raises(SpecTooCostly):
        read_text(path)
    monkeypatch.setenv("SYNCGATE_SPEC_MAX_BYTES", "4096")
    assert read_text(path).startswith("a: x")


def test_the_node_bound_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    text = alias_bomb(3, 10)  # ~1,100 values
    assert load_yaml(text) is not None  # the default bound is far above a real spec
    monkeypatch.setenv("SYNCGATE_SPEC_MAX_NODES", "500")
    with pytest.raises(SpecTooCostly):
        load_yaml(text)


def test_a_budget_past_its_deadline_says_which_stage_and_setting() -> None:
    budget = SpecBudget(0.0)
    time.sleep(0.01)
    with pytest.raises(SpecTooCostly, match=r"validating it.*SYNCGATE_SPEC_BUDGET_SECONDS"):
        budget.check("validating it")
    SpecBudget(60).check("validating it")  # within: nothing


def test_a_folder_budget_caps_each_files_budget_by_what_it_has_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_SPEC_BUDGET_SECONDS", "5")
    assert FolderBudget(60).spec_budget().seconds == 5
    assert FolderBudget(1).spec_budget().seconds <= 1
    spent = FolderBudget(0.0)
    time.sleep(0.01)
    with pytest.raises(SpecTooCostly, match="SYNCGATE_SPECS_TOTAL_SECONDS"):
        spent.check()


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "suite.json"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(SpecTooCostly, match="not a regular file"):
            read_text(path)


def test_aliases_of_one_long_scalar_are_refused_before_they_are_rendered() -> None:
    """FAILS ON MAIN (review finding 2). A scalar counts as one value however long it is: 25,000
    aliases of one 900 kB string fit in 1 MiB and 50,000 values, and load cheaply (one shared str),
    but the DAG's docs dump the spec before cutting it: 22 GB of YAML (100 aliases already take
    ~7 s and 170 MB in ``dag_factory._doc_md``; ~500 pass Airflow's 30 s import timeout)."""
    text = 'meta:\n  s: &s "' + "x" * 900_000 + '"\n  many: [' + ", ".join(["*s"] * 25_000) + "]\n"
    assert len(text) < 1024 * 1024
    with pytest.raises(SpecTooCostly):
        load_yaml(text)  # main: accepted


@pytest.mark.parametrize(
    "nesting",
    ["{x: " + "[" * 200_000 + "]" * 200_000 + "}", "\n  " + "- " * 200_000 + "x"],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_before_libyaml_composes_it(nesting: str) -> None:
    """FAILS ON MAIN (review finding 2b): a 400 kB spec nested 200,000 deep (flow `[[[...]]]` or
    block `- - - x`) crashes the process in libyaml's recursive composer (SIGSEGV from ~30,000
    levels): the DAG file dies with every flow in it. Run in a child so the crash cannot take
    pytest down."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from syncgate.spec.bounded_yaml import SpecTooCostly, load_yaml\n"
        "try:\n"
        "    load_yaml(sys.stdin.read())\n"
        "except SpecTooCostly as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input="meta: " + nesting + "\n", capture_output=True, text=True,
        timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[3] / "include")},
    )  # fmt: skip
    assert done.returncode == 0, f"the loader crashed (exit {done.returncode})"
    assert done.stdout.startswith("refused:"), done.stdout + done.stderr
