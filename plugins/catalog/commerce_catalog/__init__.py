"""The catalog plugin: products, search and ordering, bulk upload through the task queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_catalog import hookspecs, stock
from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

plugin = Plugin(
    name="catalog",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Products, search, ordering and bulk upload.",
    hookspecs=hookspecs,
)


@hookimpl
def settings_section() -> tuple[str, type]:
    from commerce_catalog.settings import CatalogSettings

    return ("catalog", CatalogSettings)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# Hook functions named after a submodule (routes, tasks) would be replaced by the submodule
# once it is imported: name them differently and say which hook they implement.
@hookimpl(specname="routes")
def catalog_routes(kernel: Any) -> list[Any]:
    from commerce_catalog.routes import routes

    return routes()


@hookimpl(specname="tasks")
def catalog_tasks(kernel: Any) -> list[Any]:
    from commerce_catalog.tasks import tasks

    return tasks(kernel)


@hookimpl(specname="cron_jobs")
def catalog_cron_jobs(kernel: Any) -> list[Any]:
    from commerce_catalog.tasks import cron_jobs

    return cron_jobs(kernel)


@hookimpl
def cli_commands() -> list[Any]:
    from commerce_catalog.cli import commands

    return commands()


@hookimpl
async def demo_data(kernel: Any, session: Any) -> None:
    from commerce_catalog.demo import add_demo_products

    await add_demo_products(kernel, session)


@hookimpl
async def allocate_stock(session: Any, lines: list[tuple[int, int]]) -> list[dict[str, int]]:
    return await stock.allocate(session, lines)


@hookimpl
async def release_stock(session: Any, lines: list[tuple[int, int]]) -> None:
    await stock.release(session, lines)


@hookimpl
async def record_units_sold(session: Any, changes: dict[int, int]) -> None:
    await stock.record_sold(session, changes)
