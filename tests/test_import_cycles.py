"""No import circles between the modules of mars_zoo.

The rule, as this test reads the source (with `ast`, importing nothing):

- An edge A -> B is an `import` or `from ... import` in module A that names module B
  of mars_zoo (a package counts as its `__init__`). Importing B also runs the packages
  above B, so those are edges too, except the packages above A itself, which Python has
  run before A.
- Imports inside functions count like those at module level. A lazy import is fine for
  start-up time, but one that closes a circle is an import moved into a function so the
  circle does not fail at load time: the circle is still there, in the design.
- Imports under `if TYPE_CHECKING:` do not count: they never run, and annotations may
  name what a module does not use.
- Imports by computed name (`importlib.import_module`) are not seen.

A failure lists each circle with the file and line of every import that makes it.

The same graph, read package by package, keeps the layers: each package's `__init__` docstring
says which packages of mars_zoo it may import (`May import: core, data`, or `nothing`), every
import from one package into another must be one its importer declares, and the declared
packages themselves form no circle. The top-level modules (`__init__`, `__main__`) count as the
package mars_zoo itself.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mars_zoo

PACKAGE_ROOT = Path(mars_zoo.__file__).parent
PACKAGE = PACKAGE_ROOT.name


def _module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under the package folder `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of `tree`, at any depth, but those under `if TYPE_CHECKING:`."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body:
                continue
            visit(child)

    visit(tree)
    return found


def _named_modules(importer: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules) -> list[str]:
    """The mars_zoo modules an import statement of `importer` names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if node.level:  # relative: from the importer's package, one level up per extra dot
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    named = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
    if len(named) < len(node.names) and base in modules:  # names defined in `base` itself
        named.append(base)
    return named


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, dict[str, int]]:
    """Module -> {module it imports: line of the first import that does}."""
    modules = _module_files(root)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for importer, path in modules.items():
        own = set(_ancestors(importer))
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _named_modules(importer, path.name == "__init__.py", node, modules):
                for reached in (*_ancestors(target), target):
                    if reached in modules and reached not in own and reached != importer:
                        graph[importer].setdefault(reached, node.lineno)
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle (a list of modules, each importing the next, the last the first) per
    strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return [_circle_in(graph, group) for group in groups]


def _circle_in(graph: dict[str, dict[str, int]], group: set[str]) -> list[str]:
    """A shortest circle through the first module (by name) of a strongly connected group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module]):
                if target == start:
                    return paths[module]
                if target in group and target not in paths:
                    paths[target] = paths[module] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no circle through {start} in {sorted(group)}")


def _describe(circle: list[str], graph: dict[str, dict[str, int]], files: dict[str, Path]) -> str:
    steps = zip(circle, circle[1:] + circle[:1])
    return "\n".join(f"  {files[a].relative_to(PACKAGE_ROOT.parent)}:{graph[a][b]} imports {b}" for a, b in steps)


def test_no_module_of_mars_zoo_imports_itself_in_a_circle():
    graph, files = import_graph(), _module_files(PACKAGE_ROOT)
    assert len(graph) > 50 and graph[f"{PACKAGE}.pipeline.runner"], "the graph must see the package's imports"
    found = circles(graph)
    assert not found, "import circles:\n" + "\n\n".join(_describe(circle, graph, files) for circle in found)


MAY_IMPORT = re.compile(r"^May import: (.*)$", re.MULTILINE)


def package_of(module: str, root: Path = PACKAGE_ROOT) -> str:
    """The package of `root` that `module` belongs to (`mars_zoo.models.registry` -> `models`);
    the modules at the top (`mars_zoo`, `mars_zoo.__main__`) belong to the root package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (root / parts[1]).is_dir() else root.name


def declared_imports(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """Package -> the packages its `__init__` docstring says it may import."""
    declared = {}
    for init in [root / "__init__.py", *sorted(root.glob("*/__init__.py"))]:
        package = root.name if init.parent == root else init.parent.name
        lines = MAY_IMPORT.findall(ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or "")
        assert len(lines) == 1, (f"{init.relative_to(root.parent)}: its docstring must say once which packages it may "
                                 f"import, as 'May import: core, data' or 'May import: nothing'")
        declared[package] = {name.strip() for name in lines[0].split(",")} - {"nothing"}
    unknown = {f"{package}: {name}" for package, names in declared.items() for name in names - set(declared)}
    assert not unknown, f"'May import:' names packages that do not exist: {sorted(unknown)}"
    return declared


def undeclared_imports(root: Path = PACKAGE_ROOT) -> list[str]:
    """Each import from one package of `root` into another that the importer does not declare,
    as `file:line imports module (package may import: ...)`."""
    graph, files, declared = import_graph(root), _module_files(root), declared_imports(root)
    found = []
    for importer, targets in sorted(graph.items()):
        package = package_of(importer, root)
        for target, line in sorted(targets.items()):
            imported = package_of(target, root)
            if imported not in (package, root.name) and imported not in declared[package]:
                allowed = ", ".join(sorted(declared[package])) or "nothing"
                found.append(f"  {files[importer].relative_to(root.parent)}:{line} imports {target} "
                             f"({package} may import: {allowed})")
    return found


def test_every_import_between_packages_is_one_its_importer_declares():
    declared = declared_imports()
    assert {"core", "models", "data", "embedding", "scoring", "results", "tasks", "leaderboard"} <= set(declared)
    assert declared["scoring"] == {"core"} and "embedding" not in declared["models"] | declared["data"]
    found = undeclared_imports()
    assert not found, "imports a package's 'May import:' line does not allow:\n" + "\n".join(found)


def test_the_declared_packages_import_each_other_in_no_circle():
    declared = declared_imports()
    found = circles({package: dict.fromkeys(names, 0) for package, names in declared.items()})
    assert not found, "circles among the declared packages: " + "; ".join(" -> ".join(c + c[:1]) for c in found)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_sees_every_kind_of_import_the_rule_counts(tmp_path):
    root = _write(tmp_path / "pkg", {
        "__init__.py": "from pkg.model import Spec\n",
        "model.py": "def load():\n    from pkg import fetch\n",  # lazy, inside a function
        "fetch.py": "from . import sub\nfrom .sub.deep import x\n",  # relative, and a package on the way
        "sub/__init__.py": "",
        "sub/deep.py": "import pkg.model\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import fetch\n",
    })
    graph = import_graph(root)
    assert graph == {
        "pkg": {"pkg.model": 1},
        "pkg.model": {"pkg.fetch": 2},
        "pkg.fetch": {"pkg.sub": 1, "pkg.sub.deep": 2},
        "pkg.sub": {},
        "pkg.sub.deep": {"pkg.model": 1},
        "pkg.typed": {},
    }
    assert circles(graph) == [["pkg.fetch", "pkg.sub.deep", "pkg.model"]]
    assert circles({**graph, "pkg.model": {}}) == []


def test_an_import_the_importer_does_not_declare_and_a_declared_circle_are_found(tmp_path):
    root = _write(tmp_path / "pkg", {
        "__init__.py": '"""Top.\n\nMay import: low, high\n"""\nfrom pkg.high import run\n',
        "low/__init__.py": '"""Low.\n\nMay import: nothing\n"""\n',
        "low/base.py": "def helper():\n    from pkg.high.run import go\n",  # lazy, still counted
        "high/__init__.py": '"""High.\n\nMay import: low\n"""\n',
        "high/run.py": "from pkg.low import base\nimport pkg.high\n",
    })
    assert declared_imports(root) == {"pkg": {"low", "high"}, "low": set(), "high": {"low"}}
    assert undeclared_imports(root) == ["  pkg/low/base.py:2 imports pkg.high (low may import: nothing)",
                                        "  pkg/low/base.py:2 imports pkg.high.run (low may import: nothing)"]
    (root / "low" / "__init__.py").write_text('"""Low.\n\nMay import: high\n"""\n')
    assert undeclared_imports(root) == []
    assert circles({package: dict.fromkeys(names, 0) for package, names in declared_imports(root).items()}) \
        == [["high", "low"]]
