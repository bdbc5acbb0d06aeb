"""The kernel's modules form no import cycle (type-only imports aside), the markers are a leaf,
and no plugin imports another plugin's internals."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import commerce_kernel

ROOT = Path(commerce_kernel.__file__).parent
PLUGINS = Path(__file__).parent.parent / "plugins"


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (function bodies included), except inside
    `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                type_only.update(id(n) for n in ast.walk(inner))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def kernel_graph() -> dict[str, set[str]]:
    modules = {
        module_name(p, ROOT, "commerce_kernel"): p
        for p in ROOT.rglob("*.py")
        if "migrations" not in p.parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name == "commerce_kernel":
            continue  # the package re-exports the public names; modules never import it
        graph[name] = {m for m in imports(path) if m in modules and m != "commerce_kernel"}
    return graph


def test_kernel_modules_import_each_other_without_a_cycle():
    graph = kernel_graph()
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_no_kernel_module_imports_the_package_itself():
    for path in ROOT.rglob("*.py"):
        if (path.name == "__init__.py" and path.parent == ROOT) or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "commerce_kernel":
                names = {a.name for a in node.names}
                submodules = {p.stem for p in ROOT.iterdir()}
                assert names <= submodules, f"{path} imports {names - submodules} from the package"


def test_the_markers_are_a_leaf():
    assert kernel_graph()["commerce_kernel.markers"] == set()


def test_a_plugin_imports_only_the_api_of_the_plugins_it_requires():
    packages = {p.name: p for p in PLUGINS.glob("*/commerce_*") if p.is_dir()}
    for name, package in packages.items():
        for path in package.rglob("*.py"):
            for module in imports(path):
                top = module.split(".")[0]
                if top in packages and top != name:
                    assert module in (top, f"{top}.api") or module.startswith(f"{top}.api."), (
                        f"{path.relative_to(PLUGINS)} imports {module}: only {top}.api is public"
                    )
