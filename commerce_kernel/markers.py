"""What a plugin module declares: its `Plugin`, hook specs and implementations, and how the
results of several implementations compose. A leaf module: it imports nothing of the kernel."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, overload

import pluggy

PROJECT = "commerce_kernel"

F = TypeVar("F", bound=Callable[..., Any])
# `await wanted(kernel, session, event) -> bool`: see `durable`.
Wanted = Callable[[Any, Any, Any], Awaitable[bool]]

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a hook implementation: a function of the plugin module named exactly after its spec.

`@hookimpl(optionalhook=True)` implements a hook of a plugin that may not be loaded (an
optional integration): without that plugin it is never called, and start-up does not fail.
"""

_hookspec = pluggy.HookspecMarker(PROJECT)


@overload
def durable(func: F, /) -> F: ...
@overload
def durable(*, wanted: Wanted | None = None) -> Callable[[F], F]: ...
def durable(func: F | None = None, /, *, wanted: Wanted | None = None) -> Any:
    """Marks a listener of an after-commit event (`order_placed`, ...) that must not lose one:
    put it above `@hookimpl`. Instead of being called in the request after commit, it gets an
    outbox row written in the event's own transaction and is called by a task, retried until
    it succeeds (at least once; it receives `event_id`, the same for every try, to be
    idempotent by). See `commerce_kernel.events`.

    `@durable(wanted=predicate)` lets the listener decline an event it would do nothing with
    (webhooks, when no endpoint subscribes to it): `await predicate(kernel, session, event)` is
    asked in the fact's transaction when the event is recorded, and False writes no row and
    queues no task. It must read what it decides by so that a change committed before the
    fact commits is seen (a locking read of a row that change updates), or it loses events."""

    def mark(f: F) -> F:
        f.__commerce_durable__ = True  # type: ignore[attr-defined]
        f.__commerce_durable_wanted__ = wanted  # type: ignore[attr-defined]
        return f

    return mark if func is None else mark(func)


def is_durable(func: object) -> bool:
    return bool(getattr(func, "__commerce_durable__", False))


def durable_wanted(func: object) -> Wanted | None:
    """The `wanted` predicate a durable listener was marked with, if any."""
    return getattr(func, "__commerce_durable_wanted__", None)


class Compose(enum.StrEnum):
    """How the results of several implementations of one hook combine.

    A spec's return annotation is what the caller of `kernel.hooks.call(spec, ...)` receives:

    - COLLECT: every implementation's contribution in one list (an implementation returns a
      list, one item, or None for nothing).
    - BROADCAST: every implementation runs for its side effects; the caller gets None.
    - FIRST: the first non-None answer (None when nobody answers).
    - PIPELINE: a value threaded through every implementation; each receives the previous
      value in the argument the spec names and returns the next (None: unchanged).
    - STRATEGY: only the last-loaded implementation runs, so a plugin that requires the
      default's plugin replaces it.
    """

    COLLECT = "collect"
    BROADCAST = "broadcast"
    FIRST = "first"
    PIPELINE = "pipeline"
    STRATEGY = "strategy"


@dataclass(frozen=True)
class SpecRule:
    """The composition a spec declared with `hookspec(...)`."""

    compose: Compose
    value: str | None = None
    isolate: bool = False
    reverse: bool = False
    coerce: Callable[[Any], Any] | None = None


def hookspec(
    compose: Compose,
    *,
    value: str | None = None,
    isolate: bool = False,
    reverse: bool = False,
    coerce: Callable[[Any], Any] | None = None,
) -> Callable[[F], F]:
    """Declare a hook spec and how its results compose.

    For PIPELINE, `value` names the argument that carries the previous result, and `coerce`
    (optional) turns each implementation's non-None answer into the value's declared type
    before the next implementation sees it (a list of dicts into a list of models), so every
    implementation and the caller get typed values. With `isolate` (BROADCAST only:
    announcements of facts, after commit) an implementation that raises is logged and the
    others still run; otherwise the error reaches the caller. `reverse` calls the
    implementations in reverse plugin order (shutdown).
    """
    if isolate and compose is not Compose.BROADCAST:
        raise ValueError("only a BROADCAST hook can isolate its implementations")
    if compose is Compose.PIPELINE and not value:
        raise ValueError("a PIPELINE hook must name its value argument")
    if coerce is not None and compose is not Compose.PIPELINE:
        raise ValueError("only a PIPELINE hook coerces its implementations' answers")
    rule = SpecRule(compose, value, isolate, reverse, coerce)

    def mark(func: F) -> F:
        func.__commerce_rule__ = rule  # type: ignore[attr-defined]
        return _hookspec(func)

    return mark


def rule_of(spec: Callable[..., Any]) -> SpecRule:
    rule = getattr(spec, "__commerce_rule__", None)
    if not isinstance(rule, SpecRule):
        raise LookupError(f"{getattr(spec, '__qualname__', spec)!r} is not a hook spec")
    return rule


class PluginError(RuntimeError):
    """A plugin cannot be loaded: start-up stops with this one message."""


@dataclass(frozen=True)
class Plugin:
    """What a plugin declares about itself: its plugin module exposes one as `plugin`.

    `requires` names the plugins it needs (they load first; their `api` modules may be
    imported), `kernel` the commerce-kernel versions it works with (a specifier such as
    `>=0.1,<0.2`), `hookspecs` the module of hooks it offers to other plugins.
    """

    name: str
    version: str
    requires: tuple[str, ...] = ()
    kernel: str = ""
    description: str = ""
    hookspecs: ModuleType | None = None


__all__ = [
    "Compose",
    "Plugin",
    "PluginError",
    "SpecRule",
    "durable",
    "durable_wanted",
    "hookimpl",
    "hookspec",
    "is_durable",
    "rule_of",
]
