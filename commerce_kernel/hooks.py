"""The hook caller: registers plugin modules with pluggy and calls hooks the way their specs
say they compose, awaiting async implementations (pluggy itself is not async)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pluggy

from commerce_kernel import hookspecs
from commerce_kernel.markers import (
    PROJECT,
    Compose,
    PluginError,
    SpecRule,
    Wanted,
    durable_wanted,
    is_durable,
    rule_of,
)

if TYPE_CHECKING:
    from commerce_kernel.plugins import LoadedPlugin

logger = logging.getLogger("commerce.plugins")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _Resolved:
    name: str
    rule: SpecRule
    impls: tuple[Any, ...]  # pluggy HookImpls, in plugin order (reversed when the spec says)
    durable: tuple[Any, ...] = ()  # durable listeners of an event, delivered by a task


class Hooks:
    """Every hook of one running set of plugins.

    `await hooks.call(spec, **kwargs)` for async specs and `hooks.call_sync(spec, **kwargs)`
    for plain ones take the spec function itself (`commerce_catalog.api.hooks.stock_strategy`),
    so mypy checks the hook name, the argument names and types, and the result type.
    """

    def __init__(self, pm: pluggy.PluginManager, order: Sequence[str]) -> None:
        self.pm = pm
        self._rank = {name: i for i, name in enumerate(order)}
        self._resolved: dict[Callable[..., Any], _Resolved] = {}

    @classmethod
    def build(cls, plugins: Sequence[LoadedPlugin], *, strict: bool = True) -> Hooks:
        """Register every plugin's specs, then its implementations, checked against them.

        `strict` refuses an implementation of a hook nobody declares (a misspelt name, or
        another plugin's hook without `requires` or `optionalhook=True`).
        """
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        for item in plugins:
            if item.info.hookspecs is not None:
                pm.add_hookspecs(item.info.hookspecs)
        for item in plugins:
            try:
                pm.register(item.module, name=item.info.name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin {item.info.name!r}: {_one_line(exc)}") from exc
        if strict:
            try:
                pm.check_pending()
            except pluggy.PluginValidationError as exc:
                name = pm.get_name(exc.plugin) if exc.plugin is not None else None
                raise PluginError(f"plugin {name!r}: {_one_line(exc)}") from exc
        hooks = cls(pm, [p.info.name for p in plugins])
        # Resolve every implemented hook now: its order and rule are fixed at start-up (no
        # per-call work), and a misdeclared implementation fails start-up, not a request.
        for item in plugins:
            for caller in pm.get_hookcallers(item.module) or []:
                if caller.spec is not None:
                    hooks._resolve(caller.spec.function)
        return hooks

    # --- what is registered ---------------------------------------------------------------

    def _resolve(self, spec: Callable[..., Any]) -> _Resolved:
        found = self._resolved.get(spec)
        if found is not None:
            return found
        name = getattr(spec, "__name__", "")
        caller = getattr(self.pm.hook, name, None)
        if caller is None or caller.spec is None or caller.spec.function is not spec:
            where = getattr(spec, "__module__", None) or "?"
            raise LookupError(f"{where}.{name or spec!r} is not a hook spec of these plugins")
        rule = rule_of(spec)
        every = sorted(
            caller.get_hookimpls(), key=lambda i: self._rank.get(i.plugin_name, len(self._rank))
        )
        # Durable listeners are called by `commerce_kernel.events`' delivery task, not here.
        impls = [i for i in every if not is_durable(i.function)]
        durable = tuple(i for i in every if is_durable(i.function))
        if durable and not (rule.compose is Compose.BROADCAST and rule.isolate):
            raise PluginError(
                f"plugin {durable[0].plugin_name!r}: only an after-commit event (a BROADCAST "
                f"hook with isolate=True) can have a durable listener, not {name}"
            )
        if rule.reverse:
            impls.reverse()
        if rule.compose is Compose.STRATEGY:
            impls = impls[-1:]
        found = self._resolved[spec] = _Resolved(name, rule, tuple(impls), durable)
        return found

    def durable_listeners(self, spec: Callable[..., Any]) -> list[str]:
        """The plugins whose listener of the event `spec` is durable, in plugin order."""
        return [impl.plugin_name for impl in self._resolve(spec).durable]

    def durable_wanted(self, spec: Callable[..., Any]) -> list[tuple[str, Wanted | None]]:
        """`durable_listeners` with each one's `wanted` predicate (None: every event)."""
        return [(i.plugin_name, durable_wanted(i.function)) for i in self._resolve(spec).durable]

    def durable_listener(self, hook: str, plugin_name: str) -> Callable[..., Any] | None:
        """The durable listener of `plugin_name` for the hook named `hook`, if still there."""
        caller = getattr(self.pm.hook, hook, None)
        if caller is None or caller.spec is None:
            return None
        for impl in self._resolve(caller.spec.function).durable:
            if impl.plugin_name == plugin_name:
                return lambda **values: impl.function(**_pick(impl, values))
        return None

    def implementers(self, spec: Callable[..., Any]) -> list[str]:
        """The plugins whose implementation of `spec` runs, in calling order."""
        return [impl.plugin_name for impl in self._resolve(spec).impls]

    def hooks_of(self, plugin_name: str) -> list[str]:
        """The hooks a plugin implements."""
        module = self.pm.get_plugin(plugin_name)
        return sorted(c.name for c in self.pm.get_hookcallers(module) or [] if c.spec)

    def register(self, namespace: ModuleType | object, name: str) -> None:
        """Add implementations at run time (a test's listener); prefer a plugin."""
        self.pm.register(namespace, name=name)
        self._resolved.clear()

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._resolved.clear()

    # --- calling --------------------------------------------------------------------------

    async def call(
        self, spec: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Call every implementation of an async `spec`, composed as the spec declares."""
        resolved = self._resolve(spec)
        fold = _Fold(resolved.rule, _bind(spec, args, kwargs))
        for impl in resolved.impls:
            try:
                out = impl.function(**_pick(impl, fold.values))
                if inspect.isawaitable(out):
                    out = await out
            except Exception:
                if not resolved.rule.isolate:
                    raise
                logger.exception(
                    "plugin %r failed in %s; the others still run", impl.plugin_name, resolved.name
                )
                continue
            if fold.add(out):
                break
        return fold.result()

    def call_sync(self, spec: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Like `call`, for plain-function specs (start-up wiring: routes, tasks, ...)."""
        resolved = self._resolve(spec)
        fold = _Fold(resolved.rule, _bind(spec, args, kwargs))
        for _, out in self._each(resolved, fold.values):
            if fold.add(out):
                break
        return fold.result()

    def each(
        self, spec: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Iterator[tuple[str, R]]:
        """Every implementation's own answer to a plain-function `spec`, with its plugin's
        name, uncomposed (None answers included)."""
        resolved = self._resolve(spec)
        yield from self._each(resolved, _bind(spec, args, kwargs))

    def _each(self, resolved: _Resolved, values: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        for impl in resolved.impls:
            try:
                out = impl.function(**_pick(impl, values))
            except PluginError:
                raise
            except Exception as exc:
                # Start-up wiring: one line naming the plugin, not a traceback.
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {resolved.name}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if inspect.isawaitable(out):
                out.close()  # type: ignore[attr-defined]
                raise PluginError(
                    f"plugin {impl.plugin_name!r} implements {resolved.name} as a coroutine; "
                    "it must be a plain function"
                )
            yield impl.plugin_name, out


def _bind(
    spec: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    if not args:
        return dict(kwargs)
    return dict(inspect.signature(spec).bind_partial(*args, **kwargs).arguments)


def _pick(impl: Any, values: dict[str, Any]) -> dict[str, Any]:
    # pluggy lets an implementation take fewer arguments than its spec declares.
    return {k: values[k] for k in impl.argnames if k in values}


class _Fold:
    """Combines implementations' answers one at a time, as the spec's rule says."""

    def __init__(self, rule: SpecRule, values: dict[str, Any]) -> None:
        self.rule = rule
        self.values = values  # the arguments; a PIPELINE's value argument moves along
        self.results: list[Any] = []
        self.first: Any = None

    def add(self, out: Any) -> bool:
        """Take one answer; True when no further implementation needs to run."""
        compose = self.rule.compose
        if compose is Compose.PIPELINE:
            if out is not None:
                coerce = self.rule.coerce
                self.values[self.rule.value] = coerce(out) if coerce else out  # type: ignore[index]
            return False
        if compose is Compose.FIRST:
            self.first = out
            return out is not None
        if compose is Compose.COLLECT:
            if isinstance(out, list | tuple):
                self.results.extend(out)
            elif out is not None:
                self.results.append(out)
            return False
        self.results.append(out)
        return False

    def result(self) -> Any:
        compose = self.rule.compose
        if compose is Compose.COLLECT:
            return self.results
        if compose is Compose.PIPELINE:
            return self.values.get(self.rule.value)  # type: ignore[arg-type]
        if compose is Compose.FIRST:
            return self.first
        if compose is Compose.STRATEGY:
            return self.results[0] if self.results else None
        return None


def _one_line(exc: Exception) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
