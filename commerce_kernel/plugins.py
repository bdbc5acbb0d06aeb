"""Plugin discovery, dependency order and the async-aware hook caller (pluggy underneath)."""

from __future__ import annotations

import enum
import graphlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import importlib_metadata
import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

ENTRY_POINT_GROUP = "commerce_kernel.plugins"
PROJECT = "commerce_kernel"

logger = logging.getLogger("commerce.plugins")

F = TypeVar("F", bound=Callable[..., Any])

hookimpl = pluggy.HookimplMarker(PROJECT)
_hookspec = pluggy.HookspecMarker(PROJECT)


class Compose(enum.StrEnum):
    """How the results of several implementations of one hook combine."""

    COLLECT = "collect"
    BROADCAST = "broadcast"
    FIRST = "first"
    PIPELINE = "pipeline"
    STRATEGY = "strategy"


def hookspec(
    compose: Compose, *, value: str | None = None, isolate: bool = False
) -> Callable[[F], F]:
    """Declare a hook spec and how its results compose.

    For PIPELINE, `value` names the argument that carries the previous result. With
    `isolate` (BROADCAST only: announcements of facts, after commit) an implementation that
    raises is logged and the others still run; otherwise the error reaches the caller.
    """
    if isolate and compose is not Compose.BROADCAST:
        raise ValueError("only a BROADCAST hook can isolate its implementations")
    if compose is Compose.PIPELINE and not value:
        raise ValueError("a PIPELINE hook must name its value argument")

    def mark(func: F) -> F:
        func.__commerce_compose__ = compose  # type: ignore[attr-defined]
        func.__commerce_value__ = value  # type: ignore[attr-defined]
        func.__commerce_isolate__ = isolate  # type: ignore[attr-defined]
        return _hookspec(func)

    return mark


class PluginError(RuntimeError):
    """A plugin cannot be loaded: start-up stops with this one message."""


@dataclass(frozen=True)
class Plugin:
    """What a plugin declares about itself. Its package exposes one as `plugin`."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    kernel: str = ""
    description: str = ""
    hookspecs: ModuleType | None = None


@dataclass
class LoadedPlugin:
    info: Plugin
    module: Any
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)


def kernel_version() -> str:
    from commerce_kernel import __version__

    return __version__


def _installed_entry_points() -> dict[str, importlib_metadata.EntryPoint]:
    found: dict[str, importlib_metadata.EntryPoint] = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def installed_plugin_names() -> list[str]:
    return sorted(_installed_entry_points())


def _plugin_of(module: Any, where: str) -> Plugin:
    info = getattr(module, "plugin", None)
    if not isinstance(info, Plugin):
        raise PluginError(f"{where} has no `plugin = commerce_kernel.Plugin(...)` declaration")
    return info


def load_plugins(
    enabled: Sequence[str] | None = None,
    disabled: Iterable[str] = (),
    extra: Iterable[Any] = (),
) -> list[LoadedPlugin]:
    """Find, import, check and order the plugins to run.

    `enabled` None means every installed plugin; `extra` are plugin modules handed over
    directly (tests). The result is in dependency order: a plugin follows what it requires.
    """
    from commerce_kernel import kernel_plugin

    eps = _installed_entry_points()
    disabled = set(disabled)
    if enabled is None:
        wanted = [name for name in sorted(eps) if name not in disabled]
    else:
        unknown = [n for n in enabled if n not in eps and n != "kernel"]
        extra_names = {_plugin_of(m, repr(m)).name for m in extra}
        unknown = [n for n in unknown if n not in extra_names]
        if unknown:
            raise PluginError(
                f"COMMERCE_PLUGINS names {', '.join(sorted(unknown))}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not installed "
                f"(installed: {', '.join(sorted(eps)) or 'none'})"
            )
        wanted = [n for n in enabled if n in eps and n not in disabled]

    loaded: dict[str, LoadedPlugin] = {
        "kernel": LoadedPlugin(kernel_plugin.plugin, kernel_plugin, "commerce-kernel")
    }
    for name in wanted:
        ep = eps[name]
        dist = ep.dist.name if ep.dist is not None else None
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} ({dist or ep.value}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        info = _plugin_of(module, f"plugin {name!r} ({ep.value})")
        if info.name != name:
            raise PluginError(
                f"plugin entry point {name!r} ({dist}) declares the name {info.name!r}"
            )
        loaded[name] = LoadedPlugin(info, module, dist)
    for module in extra:
        info = _plugin_of(module, repr(module))
        if info.name not in disabled:
            loaded[info.name] = LoadedPlugin(info, module, None)

    current = Version(kernel_version())
    for item in loaded.values():
        if not item.info.kernel:
            continue
        try:
            spec = SpecifierSet(item.info.kernel)
        except InvalidSpecifier as exc:
            raise PluginError(
                f"plugin {item.info.name!r} declares an invalid kernel range {item.info.kernel!r}"
            ) from exc
        if current not in spec:
            raise PluginError(
                f"plugin {item.info.name!r} {item.info.version} works with commerce-kernel "
                f"{item.info.kernel}, but {current} is installed"
            )

    graph: dict[str, set[str]] = {}
    for name, item in loaded.items():
        for req in item.info.requires:
            if req not in loaded:
                why = "disabled" if req in disabled or req in eps else "not installed"
                raise PluginError(f"plugin {name!r} requires plugin {req!r}, which is {why}")
        graph[name] = set(item.info.requires) | ({"kernel"} if name != "kernel" else set())
    sorter = graphlib.TopologicalSorter(graph)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise PluginError(f"plugins require each other in a circle: {cycle}") from exc
    return [loaded[name] for name in order]


class Hooks:
    """Calls hooks the way their specs say they compose, awaiting async implementations."""

    def __init__(self, pm: pluggy.PluginManager, order: Sequence[str]) -> None:
        self.pm = pm
        self._rank = {name: i for i, name in enumerate(order)}
        self._impls: dict[str, list[Any]] = {}

    def implementations(self, name: str) -> list[Any]:
        impls = self._impls.get(name)
        if impls is None:
            caller = getattr(self.pm.hook, name)
            impls = sorted(
                caller.get_hookimpls(), key=lambda i: self._rank.get(i.plugin_name, len(self._rank))
            )
            self._impls[name] = impls
        return impls

    def _spec(self, name: str) -> tuple[Compose, str | None, bool]:
        caller = getattr(self.pm.hook, name, None)
        if caller is None or caller.spec is None:
            raise LookupError(f"no hook spec named {name!r}")
        fn = caller.spec.function
        return fn.__commerce_compose__, fn.__commerce_value__, fn.__commerce_isolate__

    async def call(self, name: str, reverse: bool = False, **kwargs: Any) -> Any:
        """Call every implementation of `name`, awaiting coroutines, composed per its spec."""
        compose, value_arg, isolate = self._spec(name)
        impls = self.implementations(name)
        if reverse:
            impls = list(reversed(impls))
        if compose is Compose.STRATEGY:
            impls = impls[-1:]
        results: list[Any] = []
        for impl in impls:
            if compose is Compose.PIPELINE:
                assert value_arg is not None
                out = await _maybe_await(impl.function(**_args(impl, kwargs)))
                if out is not None:
                    kwargs[value_arg] = out
                continue
            try:
                out = await _maybe_await(impl.function(**_args(impl, kwargs)))
            except Exception:
                if not isolate:
                    raise
                logger.exception(
                    "plugin %r failed in %s; the others still run", impl.plugin_name, name
                )
                continue
            if compose is Compose.FIRST and out is not None:
                return out
            results.append(out)
        return _compose(compose, results, kwargs.get(value_arg) if value_arg else None)

    def call_sync(self, name: str, **kwargs: Any) -> Any:
        """Like `call` for hooks whose implementations are plain functions (start-up wiring)."""
        compose, value_arg, _ = self._spec(name)
        impls = self.implementations(name)
        if compose is Compose.STRATEGY:
            impls = impls[-1:]
        results: list[Any] = []
        for impl in impls:
            out = impl.function(**_args(impl, kwargs))
            if inspect.isawaitable(out):
                out.close()  # type: ignore[attr-defined]
                raise PluginError(
                    f"plugin {impl.plugin_name!r} implements {name} as a coroutine; "
                    "it must be a plain function"
                )
            if compose is Compose.PIPELINE:
                if out is not None:
                    kwargs[value_arg] = out  # type: ignore[index]
                continue
            if compose is Compose.FIRST and out is not None:
                return out
            results.append(out)
        return _compose(compose, results, kwargs.get(value_arg) if value_arg else None)

    def implementers(self, name: str) -> list[str]:
        return [impl.plugin_name for impl in self.implementations(name)]


def _args(impl: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs[k] for k in impl.argnames if k in kwargs}


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _compose(compose: Compose, results: list[Any], value: Any) -> Any:
    if compose is Compose.COLLECT:
        out: list[Any] = []
        for r in results:
            if r is None:
                continue
            if isinstance(r, list | tuple):
                out.extend(r)
            else:
                out.append(r)
        return out
    if compose is Compose.PIPELINE:
        return value
    if compose is Compose.STRATEGY:
        return results[0] if results else None
    return None


def _one_line(exc: Exception) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def build_plugin_manager(plugins: Sequence[LoadedPlugin]) -> tuple[pluggy.PluginManager, Hooks]:
    """Register specs (the kernel's and every plugin's), then implementations, validated."""
    from commerce_kernel import hookspecs

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for item in plugins:
        if item.info.hookspecs is not None:
            pm.add_hookspecs(item.info.hookspecs)
    specs = {name for name in dir(pm.hook) if not name.startswith("_")}
    for item in plugins:
        try:
            pm.register(item.module, name=item.info.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {item.info.name!r}: {_one_line(exc)}") from exc
    for item in plugins:
        # Arguments were checked against the specs by register() above.
        item.hooks = [c.name for c in pm.get_hookcallers(item.module) or [] if c.spec]
        for attr in specs:
            # `import pkg.routes` rebinds `pkg.routes`: a hook function of that name vanishes.
            if isinstance(getattr(item.module, attr, None), ModuleType) and item.info.name not in [
                i.plugin_name for i in getattr(pm.hook, attr).get_hookimpls()
            ]:
                logger.warning(
                    "plugin %r: `%s` is a submodule and no `%s` hook is implemented; if one was "
                    "meant, the submodule import hid it (use @hookimpl(specname=%r))",
                    item.info.name,
                    attr,
                    attr,
                    attr,
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else None
        raise PluginError(f"plugin {name!r}: {_one_line(exc)}") from exc
    return pm, Hooks(pm, [p.info.name for p in plugins])
