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
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
async def allocate_stock(session: Any, lines: list[tuple[int, int]]) -> list[dict[str, int]]:
    return await stock.allocate(session, lines)


@hookimpl
async def release_stock(session: Any, lines: list[tuple[int, int]]) -> None:
    await stock.release(session, lines)


@hookimpl
async def record_units_sold(session: Any, changes: dict[int, int]) -> None:
    await stock.record_sold(session, changes)
