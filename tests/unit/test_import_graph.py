"""No import cycles inside the engine: neither between modules nor between its packages.

The graph is built statically (``ast`` over every ``.py`` under ``include/syncgate``), so an
import inside a function counts as much as one at the top of a module: deferring an import
hides a cycle from the interpreter, not from the design. Imports under ``if TYPE_CHECKING:``
do not count, as they never run.

Packages are the first-level subpackages of ``syncgate`` (``syncgate.http``, ``syncgate.pipeline``,
...); a top-level module such as ``syncgate.landing`` is a package of its own here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT_PACKAGE = "syncgate"
SOURCE = Path(__file__).resolve().parents[2] / "include" / ROOT_PACKAGE

Graph = Mapping[str, Iterable[str]]

# -- building the graph ------------------------------------------------------------------------


def module_names(source: Path, root: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``source`` (the package ``root``)."""
    found: dict[str, Path] = {}
    for path in sorted(source.rglob("*.py")):
        parts = (root, *path.relative_to(source).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at any depth, except under ``if TYPE_CHECKING:``."""
    if isinstance(tree, (ast.Import, ast.ImportFrom)):
        yield tree
        return
    if isinstance(tree, ast.If) and _is_type_checking(tree.test):
        children: list[ast.AST] = list(tree.orelse)  # the else branch does run
    else:
        children = list(ast.iter_child_nodes(tree))
    for child in children:
        yield from _import_nodes(child)


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module that ``from <...> import`` names, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, known: Mapping[str, Path], root: str) -> set[str]:
    """The modules under ``root`` that ``module`` imports (``from pkg import sub``: ``pkg.sub``)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = _resolve_from(module, is_package, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in known else base)
    return {t for t in targets if t in known and t != module and (t == root or t.startswith(root + "."))}


def module_graph(source: Path = SOURCE, root: str = ROOT_PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the same package tree that it imports."""
    known = module_names(source, root)
    return {name: imports_of(name, path, known, root) for name, path in known.items()}


def package_of(module: str, root: str = ROOT_PACKAGE) -> str:
    """``syncgate.http.client`` -> ``syncgate.http``; ``syncgate.landing`` stays itself."""
    return ".".join(module.split(".")[:2]) if module.startswith(root + ".") else module


def package_graph(modules: Graph, root: str = ROOT_PACKAGE) -> dict[str, set[str]]:
    """The module graph collapsed to first-level packages, without self-edges."""
    packages: dict[str, set[str]] = {package_of(m, root): set() for m in modules}
    for module, targets in modules.items():
        source = package_of(module, root)
        packages[source].update(package_of(t, root) for t in targets if package_of(t, root) != source)
    return packages


# -- finding cycles ----------------------------------------------------------------------------


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one node (sorted, for stable output)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return sorted(components)


def cycle_through(graph: Graph, members: set[str], start: str) -> list[str]:
    """The shortest cycle from ``start`` back to it inside ``members``, as ``[start, ..., start]``."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is on no cycle inside {sorted(members)}")


def find_cycles(graph: Graph) -> list[list[str]]:
    """The shortest cycle through each node that is on one (each cycle once); empty when acyclic."""
    cycles: list[list[str]] = []
    for component in strongly_connected(graph):
        for start in component:
            cycle = cycle_through(graph, set(component), start)
            first = cycle.index(min(cycle))
            canonical = [*cycle[first:-1], *cycle[:first], cycle[first]]
            if canonical not in cycles:
                cycles.append(canonical)
    return cycles


def describe(cycles: list[list[str]], edges_by_hop: Mapping[tuple[str, str], list[str]] | None = None) -> str:
    lines = []
    for cycle in cycles:
        lines.append("  " + " -> ".join(cycle))
        for hop in zip(cycle, cycle[1:], strict=False):
            for why in (edges_by_hop or {}).get(hop, []):
                lines.append(f"      {hop[0]} -> {hop[1]}: {why}")
    return "\n".join(lines)


def _module_edges_behind(modules: Graph) -> dict[tuple[str, str], list[str]]:
    """Package edge -> the module imports that make it, to say which file to change."""
    behind: dict[tuple[str, str], list[str]] = {}
    for module, targets in sorted(modules.items()):
        for target in sorted(targets):
            hop = (package_of(module), package_of(target))
            if hop[0] != hop[1]:
                behind.setdefault(hop, []).append(f"{module} imports {target}")
    return behind


# -- the engine's own graph ----------------------------------------------------------------------


def test_the_graph_sees_the_engine() -> None:
    modules = module_graph()
    # Guards against a checker that passes because it found nothing to check.
    assert len(modules) > 50
    assert "syncgate.db.identifiers" in modules["syncgate.db.catalog"]  # a module-level import
    assert "syncgate.pipeline.extract" in modules["syncgate.dag_factory"]  # one inside a function
    assert "syncgate.settings" in modules["syncgate.dag_factory"]  # from syncgate import settings


def test_no_module_imports_itself_back() -> None:
    cycles = find_cycles(module_graph())
    assert not cycles, "import cycles between modules:\n" + describe(cycles)


def test_no_package_imports_itself_back() -> None:
    modules = module_graph()
    packages = package_graph(modules)
    cycles = find_cycles(packages)
    assert not cycles, "import cycles between packages:\n" + describe(cycles, _module_edges_behind(modules))


# -- the checker itself --------------------------------------------------------------------------


def test_a_synthetic_cycle_is_found_and_printed() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "x": {"y"}, "y": {"x"}}
    cycles = find_cycles(graph)
    assert cycles == [["a", "b", "c", "a"], ["x", "y", "x"]]
    assert describe(cycles) == "  a -> b -> c -> a\n  x -> y -> x"
    # Two cycles sharing a node: both are printed.
    assert find_cycles({"h": {"p"}, "o": {"p"}, "p": {"h", "o"}}) == [["h", "p", "h"], ["o", "p", "o"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_resolved_like_the_interpreter_would(tmp_path: Path) -> None:
    files = {
        "__init__.py": "",
        "top.py": "from pkg import low\n",
        "low.py": "import os\n",
        "sub/__init__.py": "from . import inner\n",
        "sub/inner.py": (
            "from __future__ import annotations\n"
            "from typing import TYPE_CHECKING\n"
            "from .. import top\n"
            "from ..low import something\n"
            "if TYPE_CHECKING:\n"
            "    from pkg.sub import hidden\n"
            "else:\n"
            "    import pkg.sub.other\n"
            "def later():\n"
            "    from pkg.sub.hidden import thing\n"
        ),
        "sub/hidden.py": "",
        "sub/other.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = module_graph(tmp_path, "pkg")
    assert graph == {
        "pkg": set(),
        "pkg.low": set(),
        "pkg.top": {"pkg.low"},
        "pkg.sub": {"pkg.sub.inner"},
        "pkg.sub.hidden": set(),
        "pkg.sub.inner": {"pkg.top", "pkg.low", "pkg.sub.other", "pkg.sub.hidden"},
        "pkg.sub.other": set(),
    }
    assert package_graph(graph, "pkg") == {
        "pkg": set(),
        "pkg.low": set(),
        "pkg.top": {"pkg.low"},
        "pkg.sub": {"pkg.top", "pkg.low"},
    }


def test_a_cycle_in_files_fails_the_package_check(tmp_path: Path) -> None:
    for name, text in {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "def f():\n    from pkg.b.two import g\n",
        "b/__init__.py": "",
        "b/two.py": "from pkg.a import one\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = module_graph(tmp_path, "pkg")
    assert find_cycles(modules) == [["pkg.a.one", "pkg.b.two", "pkg.a.one"]]
    assert find_cycles(package_graph(modules, "pkg")) == [["pkg.a", "pkg.b", "pkg.a"]]


# -- imports by name ------------------------------------------------------------------------------


def _imports_by_name(path: Path, known: Mapping[str, Path], root: str) -> set[str]:
    """Modules under ``root`` that ``importlib.import_module("<literal>")`` / ``__import__`` load."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        target = node.args[0].value
        if name in ("import_module", "__import__") and isinstance(target, str) and target in known:
            if target == root or target.startswith(root + "."):
                found.add(target)
    return found


def test_the_only_import_by_name_is_the_connector_discovery() -> None:
    """``FlowSpec`` loads the built-in connectors by name before its first validation (a plugin
    discovery, as Airflow's provider manager does): the connectors import the spec models, and
    the spec needs the registered models, in any process, whatever was imported first. That is
    the one run-time edge the statement graph above does not see; no other may appear."""
    known = module_names(SOURCE, ROOT_PACKAGE)
    by_name = {
        name: found for name, path in known.items() if (found := _imports_by_name(path, known, ROOT_PACKAGE))
    }
    assert by_name == {"syncgate.spec.model": {"syncgate.connectors"}}
