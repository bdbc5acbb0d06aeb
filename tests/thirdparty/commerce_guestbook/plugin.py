"""The guestbook's plugin module (its entry point): the declaration and the hook
implementations, each named after the spec it implements."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from commerce_guestbook import __version__, api, cli, hookspecs
from commerce_guestbook.middleware import StampMiddleware
from commerce_guestbook.routes import all_routes
from commerce_guestbook.settings import GuestbookSettings
from commerce_guestbook.tasks import all_cron_jobs, all_tasks
from commerce_kernel import Command, CronJob, Kernel, Plugin, SectionSettings, Task, hookimpl

plugin = Plugin(
    name="guestbook",
    version=__version__,
    kernel=">=0.1",
    description="Test-only third-party plugin: a guestbook.",
    hookspecs=hookspecs,
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [GuestbookSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return all_routes()


@hookimpl
def middleware(kernel: Kernel) -> list[Middleware]:
    return [Middleware(StampMiddleware)]


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return all_tasks()


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return all_cron_jobs()


@hookimpl
def cli_commands() -> list[Command]:
    return [cli.stats_command]


@hookimpl(optionalhook=True)
async def order_placed(kernel: Kernel, order: Mapping[str, Any]) -> None:
    """The orders plugin's after-commit event: each placed order signs the guestbook for its
    customer. The guestbook does not require orders (so it cannot import its types: it reads
    two keys); without orders this is never called."""
    await api.sign(kernel, order["account_id"], f"Placed order #{order['id']}")
