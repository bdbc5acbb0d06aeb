"""Alembic, one branch per plugin: upgrade every enabled plugin, autogenerate into one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from commerce_kernel import hookspecs
from commerce_kernel.db import Base, metadata
from commerce_kernel.hooks import Hooks
from commerce_kernel.identity import Account  # noqa: F401  (the kernel's tables, for autogenerate)
from commerce_kernel.markers import PluginError
from commerce_kernel.plugins import installed_plugins

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

SCRIPT_LOCATION = str(Path(__file__).parent / "migrations")
VERSION_TABLE = "alembic_version"


def plugin_dirs(kernel: Kernel, *, installed: bool = True) -> dict[str, Path]:
    """Each plugin's versions directory (hook `migrations_dir`); with `installed`, also of
    disabled-but-installed plugins, so revisions applied before a plugin was disabled still
    resolve (their names are prefixed with `~`)."""
    dirs: dict[str, Path] = {}
    for name, answer in kernel.hooks.each(hookspecs.migrations_dir):
        for path in _paths(answer):
            dirs.setdefault(name, path)
    if installed:
        for name, found in installed_plugins().items():
            if kernel.has_plugin(name):
                continue
            try:
                # Alone and leniently: a disabled plugin's requirements need not be loaded.
                hooks = Hooks.build([found.load()], strict=False)
                answers = list(hooks.each(hookspecs.migrations_dir))
            except PluginError:
                continue
            for _, answer in answers:
                for path in _paths(answer):
                    dirs.setdefault(f"~{name}", path)
    return dirs


def _paths(answer: object) -> list[Path]:
    items = answer if isinstance(answer, list | tuple) else [answer]
    return [Path(p) for p in items if isinstance(p, str | Path)]


def alembic_config(kernel: Kernel) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("path_separator", "os")
    dirs = [str(p) for p in plugin_dirs(kernel).values()]
    cfg.set_main_option("version_locations", ":".join(dirs))
    cfg.attributes["kernel"] = kernel
    return cfg


def table_owners(kernel: Kernel) -> dict[str, str]:
    """Which plugin owns which table: from the package that defines each mapped class."""
    packages = {}
    for p in kernel.plugins:
        mod = p.module
        name = getattr(mod, "__name__", "")
        packages[name.split(".")[0]] = p.info.name
    owners: dict[str, str] = {}
    for mapper in Base.registry.mappers:
        table = getattr(mapper, "local_table", None)
        if table is None:
            continue
        top = mapper.class_.__module__.split(".")[0]
        owners[table.name] = packages.get(top, top)
    for table in metadata.tables.values():
        if "plugin" in table.info:
            owners[table.name] = table.info["plugin"]
    return owners


def configure_context(context: Any) -> None:
    """Called from env.py: run on the connection in `config.attributes`."""
    cfg = context.config
    connection: Connection = cfg.attributes["connection"]
    only: str | None = cfg.attributes.get("autogenerate_plugin")
    owners: dict[str, str] = cfg.attributes.get("owners", {})

    def include_object(obj: Any, name: str, type_: str, reflected: bool, compare_to: Any) -> bool:
        if only is None:
            return True
        if type_ == "table":
            return owners.get(name) == only
        table = getattr(obj, "table", None)
        if table is not None:
            return owners.get(table.name) == only
        return True

    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def _import_models(kernel: Kernel) -> None:
    """Import each plugin package's `models` module so autogenerate sees every table."""
    for p in kernel.plugins:
        package = p.module.__name__.rpartition(".")[0]
        if not package:
            continue  # a top-level plugin module declares its tables itself
        try:
            importlib.import_module(f"{package}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.models":
                raise


def upgrade_sync(connection: Connection, kernel: Kernel, target: str = "head") -> list[str]:
    cfg = alembic_config(kernel)
    cfg.attributes["connection"] = connection
    script = ScriptDirectory.from_config(cfg)
    applied = []
    with_migrations = plugin_dirs(kernel, installed=False)
    for name in (p.info.name for p in kernel.plugins):
        if name not in with_migrations:
            continue
        try:
            script.get_revision(f"{name}@head")
        except Exception:
            continue
        command.upgrade(cfg, f"{name}@{target}")
        applied.append(name)
    return applied


async def upgrade(kernel: Kernel) -> list[str]:
    """Upgrade every enabled plugin's branch to its head, in dependency order."""
    _import_models(kernel)
    async with kernel.db.engine.begin() as conn:
        return await conn.run_sync(upgrade_sync, kernel)


def _revision_sync(connection: Connection, kernel: Kernel, plugin: str, message: str) -> Any:
    cfg = alembic_config(kernel)
    cfg.attributes["connection"] = connection
    cfg.attributes["autogenerate_plugin"] = plugin
    cfg.attributes["owners"] = table_owners(kernel)
    dirs = plugin_dirs(kernel, installed=False)
    script = ScriptDirectory.from_config(cfg)
    try:
        head = script.get_revision(f"{plugin}@head")
    except Exception:
        head = None
    # Not alembic's `autogenerate=True`: it insists the database is at every head of the
    # script directory, which includes installed-but-disabled plugins that were never
    # migrated. The enabled plugins were just upgraded, so compare here, filtered to the
    # plugin's own tables by `include_object`; no change in them writes no file.
    cfg.set_main_option("revision_environment", "true")

    def autogenerate(context: Any, revision: Any, directives: list[Any]) -> None:
        produced = produce_migrations(context, metadata)
        if (
            produced.upgrade_ops is None
            or produced.downgrade_ops is None
            or produced.upgrade_ops.is_empty()
        ):
            directives[:] = []
            return
        directives[0].upgrade_ops.ops[:] = produced.upgrade_ops.ops
        directives[0].downgrade_ops.ops[:] = produced.downgrade_ops.ops

    kwargs: dict[str, Any] = {
        "message": message,
        "version_path": str(dirs[plugin]),
        "process_revision_directives": autogenerate,
    }
    existing = sorted(p.name for p in dirs[plugin].glob(f"{plugin}_*.py"))
    kwargs["rev_id"] = f"{plugin}_{len(existing) + 1:04d}"
    if head is None:
        kwargs["head"] = "base"
        kwargs["branch_label"] = plugin
        requires = next(p for p in kernel.plugins if p.info.name == plugin).info.requires
        deps = []
        for req in ("kernel", *requires):
            if req in dirs:
                try:
                    deps.append(script.get_revision(f"{req}@head").revision)
                except Exception:
                    pass
        kwargs["depends_on"] = deps or None
    else:
        kwargs["head"] = f"{plugin}@head"
    return command.revision(cfg, **kwargs) or None


async def makemigrations(kernel: Kernel, plugin: str, message: str) -> Any:
    if plugin not in plugin_dirs(kernel, installed=False):
        raise SystemExit(f"plugin {plugin!r} is not enabled or has no migrations directory")
    _import_models(kernel)
    async with kernel.db.engine.begin() as conn:
        await conn.run_sync(upgrade_sync, kernel)
        return await conn.run_sync(_revision_sync, kernel, plugin, message)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `commerce migrate`")
