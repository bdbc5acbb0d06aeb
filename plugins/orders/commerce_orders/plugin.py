"""The orders plugin: placing orders (stock, idempotency, outbox mail) and their life cycle."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from commerce_kernel import CronJob, Kernel, Plugin, SectionSettings, Task, hookimpl
from commerce_orders import __version__, hookspecs
from commerce_orders.routes import build_routes
from commerce_orders.settings import OrdersSettings
from commerce_orders.tasks import CRON_JOBS, TASKS

plugin = Plugin(
    name="orders",
    version=__version__,
    requires=("catalog", "cart"),
    kernel=">=0.1,<0.2",
    description="Orders from the cart or a list of items, idempotent, with mail and a life cycle.",
    hookspecs=hookspecs,
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [OrdersSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return build_routes()


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return TASKS


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return CRON_JOBS
