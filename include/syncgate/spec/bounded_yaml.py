"""Read spec files with bounded cost: one hostile file must not stall or exhaust the DAG processor.

Every spec, defaults and suite file goes through here. Three bounds, each configurable
(``settings``):

- bytes: a file larger than ``SYNCGATE_SPEC_MAX_BYTES`` is refused before it is read;
- nodes: YAML aliases are expanded in the node graph *before* any Python object is built, and a
  document whose expanded size exceeds ``SYNCGATE_SPEC_MAX_NODES`` (a "billion laughs"), or
  whose aliases form a cycle, is refused. Everything downstream (pydantic validation,
  ``model_dump`` for the DAG's docs, the GX suite) walks at most that many values;
- time: ``SpecBudget`` is a per-file deadline (``SYNCGATE_SPEC_BUDGET_SECONDS``) checked between
  the stages of loading and building, so a spec that is slow for a reason not foreseen here
  becomes its own import error instead of pushing the whole DAG file past Airflow's import
  timeout (which unloads every flow).
"""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import yaml

from syncgate import settings
from syncgate.errors import FatalError

# libyaml's safe loader when PyYAML has it: same safe subset, ~10x faster than the pure-Python
# one (parsing 200 specs: 0.9 s -> 0.1 s, paid by every DAG parse and every monitor run).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The node walk looks at the clock once per this many nodes.
_CLOCK_EVERY = 4096
# A scalar counts as one value per this many characters (and at least one): an alias repeats its
# whole text wherever the spec is rendered (the DAG's docs dump it before cutting), so 25,000
# aliases of one 900 kB string would otherwise be 25,000 values and 22 GB of YAML.
_SCALAR_CHARS_PER_VALUE = 64
# How deep collections may nest. libyaml composes nodes recursively in C: from ~30,000 levels
# (60 kB of `[` or `- `) it overflows the stack and the whole DAG file process dies (SIGSEGV).
# A real spec nests under 20 levels.
MAX_DEPTH = 100


class SpecTooCostly(FatalError):
    """The file is over one of the bounds; the message says which and how to raise it.

    The loader reports it as the file's ``SpecError``; fatal should one ever reach a task.
    """


class SpecBudget:
    """The time one spec file may take to load, validate and build (a deadline, checked by stage)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = settings.spec_budget_seconds() if seconds is None else seconds
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def check(self, stage: str) -> None:
        """Raise ``SpecTooCostly`` when the deadline has passed (``stage``: what was being done)."""
        if self.elapsed > self.seconds:
            raise SpecTooCostly(
                f"took {self.elapsed:.1f} s ({stage}), more than the {self.seconds:g} s a spec may take "
                "(SYNCGATE_SPEC_BUDGET_SECONDS): it was skipped so that the other flows still load"
            )


class FolderBudget:
    """The time every spec of a flows folder may take together (``SYNCGATE_SPECS_TOTAL_SECONDS``).

    Kept below Airflow's DAG file import timeout (``dagbag_import_timeout``, 30 s by default):
    past it Airflow drops every DAG of the file, the valid flows with the hostile one.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = settings.specs_total_seconds() if seconds is None else seconds
        self.started = time.perf_counter()

    @property
    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.started)

    def check(self) -> None:
        """Raise ``SpecTooCostly`` when the folder's time is used up."""
        if self.left <= 0:
            raise SpecTooCostly(
                f"not loaded: the flows folder's specs already took {self.seconds:g} s "
                "(SYNCGATE_SPECS_TOTAL_SECONDS; the smallest files load first)"
            )

    def spec_budget(self) -> SpecBudget:
        """One file's budget: its own limit, or what the folder has left when that is less."""
        return SpecBudget(min(settings.spec_budget_seconds(), max(self.left, 0.0)))


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """The file's text, refused unread when it is larger than the per-file limit.

    Raises:
        SpecTooCostly: the file is too large.
        OSError: the file cannot be read.
    """
    limit = settings.spec_max_bytes() if max_bytes is None else max_bytes
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):  # a FIFO or device would block or never end the parse
        raise SpecTooCostly("not a regular file")
    size = status.st_size
    if size > limit:
        raise SpecTooCostly(
            f"the file has {size:,} bytes, more than the {limit:,} a spec file may have "
            "(SYNCGATE_SPEC_MAX_BYTES)"
        )
    with path.open("rb") as handle:  # the file may have grown since stat(): read at most the limit
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SpecTooCostly(
            f"the file has more than the {limit:,} bytes a spec file may have (SYNCGATE_SPEC_MAX_BYTES)"
        )
    return data.decode("utf-8")


def load_yaml(text: str, budget: SpecBudget | None = None, max_nodes: int | None = None) -> Any:
    """Parse one YAML document with the safe loader, its aliases expanded at most ``max_nodes`` deep.

    Raises:
        yaml.YAMLError: the text is not YAML (or holds more than one document).
        SpecTooCostly: the document is over the node bound, has an alias cycle, or ran out of time.
    """
    limit = settings.spec_max_nodes() if max_nodes is None else max_nodes
    _check_depth(text)
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()  # the node graph: an alias is a second reference, not a copy
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            _check_expanded_size(node, limit, budget)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` from libyaml's event stream (not recursive, and
    read only up to the first level too deep), before the recursive composer sees it."""
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecTooCostly(f"collections nest more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_expanded_size(root: yaml.Node, limit: int, budget: SpecBudget | None) -> None:
    """Count the nodes of the document as a consumer sees it (every alias expanded).

    Memoised per node, so the count itself costs one visit per distinct collection however large
    the expansion is; an alias to an enclosing node (a cycle) is refused outright.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    visited = 0
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size.get(id(child)) or _scalar_size(child) for child in _children(node))
            if size[key] > limit:
                raise SpecTooCostly(
                    f"the document expands to more than {limit:,} values (YAML aliases count once per "
                    f"use, a scalar once per {_SCALAR_CHARS_PER_VALUE} characters; SYNCGATE_SPEC_MAX_NODES)"
                )
            continue
        if key in size:
            continue
        visited += 1
        if budget is not None and visited % _CLOCK_EVERY == 0:
            budget.check("reading its YAML")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if isinstance(child, yaml.ScalarNode) or id(child) in size:
                continue
            if id(child) in on_path:
                raise SpecTooCostly("a YAML alias refers to a node that contains it (a cycle)")
            stack.append((child, False))


def _scalar_size(node: yaml.Node) -> int:
    return 1 + len(node.value) // _SCALAR_CHARS_PER_VALUE if isinstance(node, yaml.ScalarNode) else 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value  # type: ignore[no-any-return]
    return []
