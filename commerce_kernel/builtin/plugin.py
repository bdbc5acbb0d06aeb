"""The `kernel` plugin: accounts and tokens, health, the API docs, the mail task, the
accounts migrations and the built-in commands, contributed through the generic hooks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from commerce_kernel.builtin import accounts, docs, health
from commerce_kernel.commands import Command
from commerce_kernel.commands import createsuperuser as createsuperuser_command
from commerce_kernel.commands import demo as demo_command
from commerce_kernel.commands import makemigrations as makemigrations_command
from commerce_kernel.commands import migrate as migrate_command
from commerce_kernel.commands import new_plugin as new_plugin_command
from commerce_kernel.commands import openapi as openapi_command
from commerce_kernel.commands import plugins as plugins_command
from commerce_kernel.commands import serve as serve_command
from commerce_kernel.commands import worker as worker_command
from commerce_kernel.events import DELIVER, REDELIVER, deliver, redeliver
from commerce_kernel.mail import Mail
from commerce_kernel.markers import Plugin, hookimpl
from commerce_kernel.tasks import CronJob, Task, TaskContext
from commerce_kernel.version import __version__

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

plugin = Plugin(
    name="kernel", version=__version__, description="Accounts, tokens, health, OpenAPI and mail."
)

SEND_MAIL = "kernel.send_mail"


async def send_mail(ctx: TaskContext, mail: dict[str, Any]) -> None:
    """Deliver one message (retried with backoff while the mail server fails)."""
    await ctx.kernel.mailer.send(Mail.from_dict(mail))


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return [*health.routes(), *accounts.routes(), *docs.routes()]


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    # A short timeout: on Redis, a job whose worker was SIGKILLed runs again only after the
    # longest task timeout of the deployment + 15 s (arq's in-progress key).
    return [
        Task(SEND_MAIL, send_mail, max_tries=8, timeout=30),
        Task(DELIVER, deliver, max_tries=8, timeout=30),
    ]


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return [CronJob(REDELIVER, redeliver, second=30)]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent.parent / "migrations" / "versions"


@hookimpl
def cli_commands() -> list[Command]:
    return [
        serve_command.command,
        migrate_command.command,
        makemigrations_command.command,
        worker_command.command,
        createsuperuser_command.command,
        plugins_command.command,
        openapi_command.command,
        new_plugin_command.command,
        demo_command.command,
    ]
