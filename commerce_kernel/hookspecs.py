"""The table of contents of what a plugin can extend: every generic hook the kernel calls.

A plugin implements a hook with a function of its plugin module named exactly after the spec
and marked `@commerce_kernel.hookimpl`. Each spec says when it is called, with what, and how
the results of several plugins compose (`commerce_kernel.Compose`): its return annotation is
what the kernel receives once every implementation has answered. Implementations may take
fewer arguments than the spec; those of a plain-function spec must be plain functions, those
of an async spec may be plain functions or coroutines. They run in plugin dependency order
(a plugin runs after the plugins it requires).

A plugin offers hooks of its own the same way: a `hookspecs` module whose functions are
decorated with `commerce_kernel.hookspec(...)`, named on its `Plugin(hookspecs=...)` and
re-exported by its `api` module; callers pass the spec function itself to
`kernel.hooks.call(spec, ...)`, so mypy checks the name, the arguments and the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from commerce_kernel.markers import Compose, hookspec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.middleware import Middleware
    from starlette.routing import BaseRoute

    from commerce_kernel.commands import Command
    from commerce_kernel.kernel import Kernel
    from commerce_kernel.settings import SectionSettings
    from commerce_kernel.tasks import CronJob, Task


@hookspec(Compose.COLLECT)
def settings_section() -> list[type[SectionSettings]]:
    """The plugin's settings class (a `SectionSettings` subclass), read from the environment
    and `.env` with the prefix `<PLUGIN NAME>_` unless the class sets `env_prefix`.

    Called once at start-up, before anything else; the section is validated then, and a
    failure stops start-up naming the plugin. Read it back with `kernel.section(TheClass)`.
    """
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def migrations_dir() -> list[Path]:
    """The plugin's Alembic versions directory (its own branch, labelled with its name).

    Called by `commerce migrate` / `makemigrations` and by the test kit, also for plugins that
    are installed but disabled (so revisions they applied still resolve).
    """
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def routes(kernel: Kernel) -> list[BaseRoute]:
    """HTTP and WebSocket routes (Starlette `Route`/`WebSocketRoute`, usually built with
    `commerce_kernel.routing.api_route` and `routes_from`). Called once when the app is built."""
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def middleware(kernel: Kernel) -> list[Middleware]:
    """ASGI middleware wrapped around the routes, outermost first in plugin order.
    Called once when the app is built."""
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def tasks(kernel: Kernel) -> list[Task]:
    """Background tasks this plugin can enqueue (`kernel.queue.enqueue(name, ...)`).
    Names start with the plugin name (`catalog.import_chunk`). Called once at start-up."""
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    """Periodic jobs. They run once per deployment (never once per process): in
    `commerce worker` on Redis, or in the in-process runner of the embedded default."""
    raise NotImplementedError


@hookspec(Compose.COLLECT)
def cli_commands() -> list[Command]:
    """Subcommands of the `commerce` CLI (`commerce_kernel.Command`); the kernel's own
    (`serve`, `migrate`, `worker`, ...) come through this hook too."""
    raise NotImplementedError


@hookspec(Compose.BROADCAST)
async def startup(kernel: Kernel) -> None:
    """Called in plugin order once the database, Redis, queue and pub/sub are open."""


@hookspec(Compose.BROADCAST, reverse=True)
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
async def email_proven(kernel: Kernel, session: AsyncSession, account_id: int) -> None:
    """A verified identity proved the account's email for the first time (a Google ID token
    with a verified email, a mailed code), inside the caller's transaction. Every credential
    set before was set by someone who never proved the address: remove yours (auth_password
    deletes the password). The kernel then ends every session of the account
    (`commerce_kernel.identity.prove_email`)."""


@hookspec(Compose.BROADCAST)
async def demo_data(kernel: Kernel, session: AsyncSession) -> None:
    """Fill an empty embedded deployment with a little demo data (`commerce demo`).
    Called inside one transaction, which commits after every plugin ran; must be idempotent."""
