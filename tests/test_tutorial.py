"""docs/tutorial.md builds a real plugin, `loyalty`: every code block titled with a file name is
that whole file. These tests extract the blocks, install the result non-editable as a user
would, and run the plugin's own tests and its strict type check in subprocesses, on this run's
backend (the plugin's test kit reads the same COMMERCE_TEST_* variables)."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from commerce_kernel.settings import Settings
from commerce_kernel.testing import backend_urls
from tests.helpers.install import install_target

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
PACKAGE = "commerce_loyalty"
# A titled block: ```python title="commerce_loyalty/plugin.py" ... ``` (the body may be empty).
BLOCK = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```\n', re.MULTILINE | re.DOTALL)
# What the tutorial may import: the kernel's public modules, the public `api` of the plugins
# it uses, its own package, and these libraries.
PUBLIC_MODULES = {
    "commerce_kernel",
    "commerce_kernel.testing",
    "commerce_orders.api",
    "commerce_cart.api",
    "commerce_catalog.api",
}
LIBRARIES = {"sqlalchemy", "pydantic", "alembic", "starlette", "pytest"}


def tutorial_files() -> dict[str, str]:
    """Each titled block's path and text; a path may appear in one block only."""
    files: dict[str, str] = {}
    for _lang, title, body in BLOCK.findall(TUTORIAL.read_text()):
        path = PurePosixPath(title)
        assert not path.is_absolute() and ".." not in path.parts, title
        assert title not in files, f"{title} appears in more than one block"
        files[title] = body
    return files


def python_files() -> dict[str, ast.Module]:
    return {t: ast.parse(body, t) for t, body in tutorial_files().items() if t.endswith(".py")}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def plugin_env(site: Path) -> dict[str, str]:
    """This process's environment with `site` first on PYTHONPATH, without the variables the
    kernel would read as settings (a developer's DATABASE_URL, ...) or this pytest's own. The
    COMMERCE_TEST_* variables stay: the plugin's tests run on this run's backend."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for name in Settings.model_fields:
        env.pop(name.upper(), None)
    env.pop("MYPYPATH", None)
    env["LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


@dataclass
class Built:
    source: Path  # the distribution as the tutorial writes it
    site: Path  # where it is installed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source = tmp_path_factory.mktemp("tutorial") / "commerce-loyalty"
    for title, body in tutorial_files().items():
        path = source / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    site = tmp_path_factory.mktemp("site")
    install_target(source, site)
    return Built(source, site)


def test_the_tutorial_imports_only_public_modules() -> None:
    files = python_files()
    assert f"{PACKAGE}/plugin.py" in files and "tests/conftest.py" in files
    allowed_roots = set(sys.stdlib_module_names) | LIBRARIES
    for title, tree in files.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module, f"{title}: a relative import"
                modules, names = [node.module], [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                modules, names = [a.name for a in node.names], []
            else:
                continue
            for module in modules:
                if module == PACKAGE or module.startswith(f"{PACKAGE}."):
                    continue
                if module.partition(".")[0] in allowed_roots:
                    continue
                assert module in PUBLIC_MODULES, f"{title}: imports {module}, not public"
                # ... and what it imports from there is that module's public name.
                public = getattr(importlib.import_module(module), "__all__", None)
                for name in names:
                    assert public is not None and name in public, f"{title}: {module}.{name}"


def test_the_tutorial_plugin_installs_and_its_own_tests_pass(built: Built) -> None:
    installed = built.site / PACKAGE
    assert (installed / "migrations" / "versions" / "loyalty_0001_points.py").exists()
    assert (installed / "py.typed").exists()
    (entry_points,) = built.site.glob("commerce_loyalty-*.dist-info/entry_points.txt")
    assert "loyalty = commerce_loyalty.plugin" in entry_points.read_text()

    env = plugin_env(built.site)
    # -P: the working directory (the extracted source) is not put on sys.path, so the tests
    # import the installed copy, migrations and package data included.
    where = run(
        [sys.executable, "-P", "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        built.source,
        env,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(built.site), where.stdout

    r = run([sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider"], built.source, env)
    assert r.returncode == 0, r.stdout + r.stderr
    # The test kit's report header: the same backend as this run's.
    db, redis = backend_urls()
    backend = (
        f"database={'MariaDB/MySQL' if db else 'SQLite'}, "
        f"queue/pubsub={'Redis' if redis else 'in-process'}"
    )
    assert f"commerce backend: {backend}" in r.stdout, r.stdout
    tests = sum(
        isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name.startswith("test_")
        for title, tree in python_files().items()
        if title.startswith("tests/")
        for node in tree.body
    )
    assert re.search(rf"\b{tests} passed\b", r.stdout) and "skipped" not in r.stdout, r.stdout


def test_the_tutorial_plugin_passes_mypy_strict(built: Built, tmp_path: Path) -> None:
    """With the settings its pyproject gives (strict), the kernel and the cart, orders and
    catalog plugins found as they are installed here."""
    cache = str(tmp_path / "mypy")
    r = run(
        [sys.executable, "-m", "mypy", "--cache-dir", cache], built.source, plugin_env(built.site)
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout, r.stdout


def test_the_tutorial_plugin_is_ruff_clean(built: Built) -> None:
    """With the lint rules its pyproject gives (the scaffold's)."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    env = plugin_env(built.site)
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        r = run([str(ruff), *args], built.source, env)
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_tutorial_migration_matches_its_models(built: Built, tmp_path: Path) -> None:
    """`commerce makemigrations loyalty` right after migrating finds nothing to write."""
    commerce = str(Path(sys.executable).with_name("commerce"))
    env = {
        **plugin_env(built.site),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'commerce.db'}",
        "SECRET_KEY": "tutorial-test-secret-key-" + "x" * 32,
        "COMMERCE_PLUGINS": "catalog,cart,orders,loyalty",
    }
    migrated = run([commerce, "migrate"], tmp_path, env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    r = run([commerce, "makemigrations", "loyalty", "-m", "check"], tmp_path, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no migration created" in r.stdout, r.stdout
    versions = built.site / PACKAGE / "migrations" / "versions"
    assert sorted(p.name for p in versions.glob("*.py")) == ["loyalty_0001_points.py"]
