"""The catalog plugin: products, search and ordering, bulk upload through the task queue."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from commerce_catalog import __version__, cli, demo, hookspecs
from commerce_catalog import routes as catalog_routes
from commerce_catalog import tasks as catalog_tasks
from commerce_catalog.settings import CatalogSettings
from commerce_catalog.stock import ConditionalUpdateStock, StockStrategy
from commerce_kernel import Command, CronJob, Kernel, Plugin, SectionSettings, Task, hookimpl

plugin = Plugin(
    name="catalog",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Products, search, ordering and bulk upload.",
    hookspecs=hookspecs,
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [CatalogSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return catalog_routes.routes()


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return catalog_tasks.tasks(kernel)


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return catalog_tasks.cron_jobs(kernel)


@hookimpl
def cli_commands() -> list[Command]:
    return cli.commands()


@hookimpl
async def demo_data(kernel: Kernel, session: AsyncSession) -> None:
    await demo.add_demo_products(kernel, session)


@hookimpl
def stock_strategy(kernel: Kernel) -> StockStrategy:
    return ConditionalUpdateStock()
