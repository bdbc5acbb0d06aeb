"""Plugin discovery and order: entry points of the group `commerce_kernel.plugins`, each naming
a plugin module; version and requirement checks; dependency order."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

import importlib_metadata
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from commerce_kernel.markers import Plugin, PluginError
from commerce_kernel.version import __version__

ENTRY_POINT_GROUP = "commerce_kernel.plugins"
KERNEL = "kernel"


@dataclass
class LoadedPlugin:
    """A plugin module found and imported, with what it declares and where it came from."""

    info: Plugin
    module: ModuleType
    distribution: str | None = None


@dataclass(frozen=True)
class InstalledPlugin:
    """An entry point of the group, not yet imported."""

    name: str
    value: str
    distribution: str | None
    entry_point: importlib_metadata.EntryPoint

    def load(self) -> LoadedPlugin:
        """Import the plugin module and read its declaration (one-line `PluginError`)."""
        ep = self.entry_point
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {self.name!r} ({self.distribution or ep.value}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        where = f"plugin {self.name!r} ({ep.value})"
        if not isinstance(module, ModuleType) or hasattr(module, "__path__"):
            # A package's attributes are rebound by its submodules (`pkg.routes`), which
            # would hide hook functions of the same name: entry points name a plain module.
            raise PluginError(
                f"{where}: the entry point must name the plugin module "
                f"(e.g. {ep.value.split(':')[0]}.plugin), not a package or an object"
            )
        info = declaration(module, where)
        if info.name != self.name:
            raise PluginError(f"{where} declares the name {info.name!r}")
        return LoadedPlugin(info, module, self.distribution)


def declaration(module: ModuleType, where: str | None = None) -> Plugin:
    info = getattr(module, "plugin", None)
    if not isinstance(info, Plugin):
        raise PluginError(
            f"{where or module.__name__} has no `plugin = commerce_kernel.Plugin(...)` declaration"
        )
    return info


def installed_plugins() -> dict[str, InstalledPlugin]:
    """Every plugin installed in this environment, by name (not imported)."""
    found: dict[str, InstalledPlugin] = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            dist = ep.dist.name if ep.dist is not None else None
            found[ep.name] = InstalledPlugin(ep.name, ep.value, dist, ep)
    return found


def with_requirements(names: Iterable[str], extra: Iterable[ModuleType] = ()) -> list[str]:
    """The named plugins and everything they require, transitively (installed ones are
    imported to read their declarations; `extra` are plugin modules handed over directly)."""
    given = {declaration(m).name: declaration(m) for m in extra}
    installed = installed_plugins()
    out: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name == KERNEL:
            continue
        out.append(name)
        if name in given:
            todo.extend(given[name].requires)
        elif name in installed:
            todo.extend(installed[name].load().info.requires)
    return out


def load_plugins(
    enabled: Sequence[str] | None = None,
    disabled: Iterable[str] = (),
    extra: Iterable[ModuleType] = (),
) -> list[LoadedPlugin]:
    """Find, import, check and order the plugins to run.

    `enabled` None means every installed plugin; `extra` are plugin modules handed over
    directly (tests). The result is in dependency order: a plugin follows what it requires,
    and the kernel's own plugin comes first.
    """
    installed = installed_plugins()
    extra = list(extra)
    disabled = set(disabled)
    extra_names = {declaration(m).name for m in extra}
    if enabled is None:
        wanted = [n for n in sorted(installed) if n not in disabled and n != KERNEL]
    else:
        unknown = sorted(
            n for n in enabled if n not in installed and n != KERNEL and n not in extra_names
        )
        if unknown:
            raise PluginError(
                f"COMMERCE_PLUGINS names {', '.join(unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not installed "
                f"(installed: {', '.join(sorted(installed)) or 'none'})"
            )
        wanted = [n for n in enabled if n in installed and n not in disabled and n != KERNEL]

    if KERNEL not in installed:
        raise PluginError(
            "the kernel's own plugin entry point is missing: reinstall commerce-kernel"
        )
    # The kernel's own plugin (accounts, health, docs, mail, the built-in commands) is found
    # like any other and always loaded.
    loaded: dict[str, LoadedPlugin] = {KERNEL: installed[KERNEL].load()}
    for name in wanted:
        loaded[name] = installed[name].load()
    for module in extra:
        info = declaration(module)
        if info.name not in disabled:
            loaded[info.name] = LoadedPlugin(info, module, None)

    for item in loaded.values():
        check_kernel_version(item.info)
    return order(loaded, disabled | (set(installed) - set(loaded)))


def check_kernel_version(info: Plugin) -> None:
    if not info.kernel:
        return
    try:
        spec = SpecifierSet(info.kernel)
    except InvalidSpecifier as exc:
        raise PluginError(
            f"plugin {info.name!r} declares an invalid kernel range {info.kernel!r}"
        ) from exc
    if Version(__version__) not in spec:
        raise PluginError(
            f"plugin {info.name!r} {info.version} works with commerce-kernel "
            f"{info.kernel}, but {__version__} is installed"
        )


def order(loaded: dict[str, LoadedPlugin], not_loaded: set[str]) -> list[LoadedPlugin]:
    """Dependency order; a missing or circular requirement is a `PluginError`."""
    graph: dict[str, set[str]] = {}
    for name, item in loaded.items():
        for req in item.info.requires:
            if req not in loaded:
                why = "disabled" if req in not_loaded else "not installed"
                raise PluginError(f"plugin {name!r} requires plugin {req!r}, which is {why}")
        graph[name] = set(item.info.requires) | ({KERNEL} if name != KERNEL else set())
    try:
        names = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise PluginError(f"plugins require each other in a circle: {cycle}") from exc
    return [loaded[name] for name in names]
