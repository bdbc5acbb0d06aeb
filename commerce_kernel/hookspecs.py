"""The table of contents of what a plugin can extend: every generic hook the kernel calls.

Each spec says when it is called, with what, and how the results of several plugins compose
(`compose=`): COLLECT gathers every plugin's contribution (lists are flattened, None skipped),
BROADCAST calls every plugin for its side effects, FIRST takes the first non-None answer,
PIPELINE threads a value through every plugin (each gets the previous result and returns the
next, None meaning "unchanged"), STRATEGY lets the last-loaded plugin replace the others.
Implementations may be plain functions or coroutines; `Kernel.hooks` awaits them and applies
the rule in plugin dependency order (a plugin runs after the plugins it requires).

A plugin offers hooks of its own the same way: a `hookspecs` module whose functions are
decorated with `commerce_kernel.hookspec(...)`, named on its `Plugin(hookspecs=...)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commerce_kernel.plugins import Compose, hookspec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.middleware import Middleware
    from starlette.routing import BaseRoute

    from commerce_kernel.app import Kernel
    from commerce_kernel.cli import Command
    from commerce_kernel.settings import SectionSettings
    from commerce_kernel.tasks import CronJob, Task


@hookspec(Compose.COLLECT)
def settings_section() -> tuple[str, type[SectionSettings]] | None:
    """A settings section `(name, SectionSettings subclass)` read from the environment.

    Called once at start-up, before anything else; the section is validated then, and a
    failure stops start-up naming the plugin. Read it back with `kernel.section(name)`.
    """


@hookspec(Compose.COLLECT)
def migrations_dir() -> Path | str | None:
    """The plugin's Alembic versions directory (its own branch, labelled with its name).

    Called by `commerce migrate` / `makemigrations` and by the test kit.
    """


@hookspec(Compose.COLLECT)
def routes(kernel: Kernel) -> Sequence[BaseRoute] | None:
    """HTTP and WebSocket routes (Starlette `Route`/`WebSocketRoute`, usually built with
    `commerce_kernel.routing.api_route`). Called once when the app is built."""


@hookspec(Compose.COLLECT)
def middleware(kernel: Kernel) -> Sequence[Middleware] | None:
    """ASGI middleware wrapped around the routes, outermost first in plugin order.
    Called once when the app is built."""


@hookspec(Compose.COLLECT)
def tasks(kernel: Kernel) -> Sequence[Task] | None:
    """Background tasks this plugin can enqueue (`kernel.queue.enqueue(name, ...)`).
    Names should start with the plugin name (`catalog.import_chunk`)."""


@hookspec(Compose.COLLECT)
def cron_jobs(kernel: Kernel) -> Sequence[CronJob] | None:
    """Periodic jobs. They run once per deployment (never once per process): in
    `commerce worker` on Redis, or in the in-process runner of the embedded default."""


@hookspec(Compose.COLLECT)
def cli_commands() -> Sequence[Command] | None:
    """Subcommands of the `commerce` CLI (`commerce_kernel.cli.Command`)."""


@hookspec(Compose.BROADCAST)
async def startup(kernel: Kernel) -> None:
    """Called in plugin order once the database, Redis, queue and pub/sub are open."""


@hookspec(Compose.BROADCAST)
async def shutdown(kernel: Kernel) -> None:
    """Called in reverse plugin order before the kernel closes its resources."""


@hookspec(Compose.FIRST)
async def set_password(
    kernel: Kernel, session: AsyncSession, account_id: int, password: str
) -> bool | None:
    """Store a password credential for an account, inside the caller's transaction.

    The first plugin that handles passwords returns True (`auth_password` does); used by
    `commerce createsuperuser --password`. Raise `commerce_kernel.errors.Problem` (422) to
    refuse a weak password.
    """


@hookspec(Compose.BROADCAST)
async def demo_data(kernel: Kernel, session: AsyncSession) -> None:
    """Fill an empty embedded deployment with a little demo data (`commerce demo`).
    Called inside one transaction; must be idempotent."""


def all_specs() -> list[Any]:
    return [
        settings_section,
        migrations_dir,
        routes,
        middleware,
        tasks,
        cron_jobs,
        cli_commands,
        startup,
        shutdown,
        set_password,
        demo_data,
    ]
