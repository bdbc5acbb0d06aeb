"""Hooks the catalog offers: stock allocation (a replaceable strategy), sold counts, and
product life-cycle events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commerce_kernel import Compose, hookspec

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.ext.asyncio import AsyncSession

    from commerce_catalog.schemas import ProductData, SoldCount
    from commerce_catalog.stock import StockStrategy
    from commerce_kernel import Kernel


@hookspec(Compose.STRATEGY)
def stock_strategy(kernel: Kernel) -> StockStrategy:
    """The one object that takes and gives back stock (`commerce_catalog.api.StockStrategy`:
    `allocate` and `release`), so a plugin replaces both together or neither.

    Called once per deployment, at the first sale (`commerce_catalog.api.stock(kernel)`).
    Sales go through `commerce_catalog.api.sell`/`unsell`, which call the strategy and then
    count the units sold (the default's conditional UPDATE counts them in the same statement).
    STRATEGY: the last-loaded implementation wins, so a plugin that requires `catalog` and
    implements this hook replaces the catalog's default (one conditional UPDATE per line).
    """
    raise NotImplementedError


@hookspec(Compose.BROADCAST)
async def record_units_sold(kernel: Kernel, session: AsyncSession, changes: dict[int, int]) -> None:
    """Units sold changed by `{product_id: delta}` (positive on sale, negative on cancel),
    inside the seller's transaction: called by `commerce_catalog.api.sell` and `unsell` once
    the catalog has changed its own `sold_count` (whose new figures it announces with
    `sold_counts_changed` when that transaction commits). Implement it to keep figures of
    your own; to sell, call `sell`, not this hook. An error rolls the sale back. BROADCAST."""


@hookspec(Compose.BROADCAST, isolate=True)
async def sold_counts_changed(kernel: Kernel, event_id: str, counts: list[SoldCount]) -> None:
    """Products' units sold changed (an order placed or cancelled; after commit). `counts`
    holds each changed product's new `sold` figure and its `version`, which grows by one with
    every change of that product's figure, in the order the changes committed: of two
    announcements for one product (heard in any order, in any process) the higher version is
    the current figure. An after-commit event, like `product_created`; never announced for a
    rolled-back order, and not built at all when nobody listens."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_created(kernel: Kernel, event_id: str, product: ProductData) -> None:
    """A product was created (after commit; from the API or a bulk upload chunk). `product`
    is its API representation. An after-commit event (`commerce_kernel.events`): a listener
    marked `@durable` hears it at least once even if this process dies; `event_id` is the same
    on every try, to be idempotent by."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_updated(
    kernel: Kernel, event_id: str, product: ProductData, changed: list[str]
) -> None:
    """A product was changed (after commit); `changed` names the fields whose value changed.
    An after-commit event, like `product_created`."""


@hookspec(Compose.BROADCAST, isolate=True)
async def product_retired(kernel: Kernel, event_id: str, product: ProductData) -> None:
    """A product was retired (DELETE; after commit). It stays in the database, inactive.
    An after-commit event, like `product_created`."""


@hookspec(Compose.BROADCAST, isolate=True)
async def bulk_upload_finished(kernel: Kernel, event_id: str, job: dict[str, Any]) -> None:
    """A bulk upload job settled: `succeeded` (every chunk applied; rows may still have
    failed, see `failed` and `errors`) or `failed` (a chunk kept failing). `job` is the job as
    `GET /api/products/bulk/{job_id}/` shows it. Recorded in the transaction that settled the
    job, so it is announced once per job, when that commits. An after-commit event, like
    `product_created`."""
