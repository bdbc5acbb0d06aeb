"""What each shop event becomes: its type, its `webhook-id` and its `data`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from commerce_catalog.api import get_products
from sqlalchemy import delete, select

from commerce_kernel.db import retry_on_conflict
from commerce_webhooks.delivery import fan_out
from commerce_webhooks.models import StockLow
from commerce_webhooks.settings import WebhooksSettings
from commerce_webhooks.subscribed import STOCK_LOW, subscribed

if TYPE_CHECKING:
    from commerce_kernel import Kernel


def message_id(event_id: str, suffix: str = "") -> str:
    """The `webhook-id` of an event: `evt_` and the kernel's event id (the same on every
    call of a durable listener), with a suffix for a second webhook event from one fact."""
    return f"evt_{event_id}" + (f"_{suffix}" if suffix else "")


def public_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order as the API shows it (the event adds `account_id` for listeners)."""
    return {k: v for k, v in order.items() if k != "account_id"}


async def order_placed(kernel: Kernel, event_id: str, order: Mapping[str, Any]) -> None:
    await fan_out(kernel, "order.placed", message_id(event_id), {"order": public_order(order)})


async def order_status_changed(
    kernel: Kernel, event_id: str, order: Mapping[str, Any], old_status: str, new_status: str
) -> None:
    data = {"order": public_order(order), "old_status": old_status, "new_status": new_status}
    await fan_out(kernel, "order.status_changed", message_id(event_id), data)
    if new_status == "cancelled":
        await fan_out(
            kernel, "order.cancelled", message_id(event_id, "cancelled"), {"order": data["order"]}
        )


async def one_message(
    kernel: Kernel, event_type: str, event_id: str, data: Mapping[str, Any]
) -> None:
    await fan_out(kernel, event_type, message_id(event_id), data)


async def stock_changed(kernel: Kernel, event_id: str, product_ids: Iterable[int]) -> None:
    """`product.stock_low` for each product whose stock is now at or under the threshold and
    was not already announced so; a product back above it is forgotten (announced again the
    next time it falls). Idempotent by `event_id`: a repeated call sends the same messages."""
    threshold = kernel.section(WebhooksSettings).stock_low_threshold
    ids = sorted(set(product_ids))
    if not ids:
        return

    async def mark() -> list[dict[str, Any]]:
        async with kernel.db.transaction() as session:
            types = await subscribed(session)
            if types is not None and STOCK_LOW not in types:
                # Nobody listens (any more): nothing to announce, nothing to remember.
                await session.execute(delete(StockLow).where(StockLow.product_id.in_(ids)))
                return []
            infos = await get_products(session, ids)
            marks = {
                m.product_id: m
                for m in await session.scalars(select(StockLow).where(StockLow.product_id.in_(ids)))
            }
            low: list[dict[str, Any]] = []
            gone = [pid for pid, info in infos.items() if pid in marks and info.stock > threshold]
            if gone:
                await session.execute(delete(StockLow).where(StockLow.product_id.in_(gone)))
            for pid, info in infos.items():
                if info.stock > threshold or not info.is_active:
                    continue
                known = marks.get(pid)
                if known is None:
                    session.add(StockLow(product_id=pid, event_id=event_id))
                elif known.event_id != event_id:
                    continue  # announced by an earlier event
                low.append(
                    {
                        "product": {
                            "id": info.id,
                            "sku": info.sku,
                            "name": info.name,
                            "stock": info.stock,
                        },
                        "threshold": threshold,
                    }
                )
            return low

    for data in await retry_on_conflict(mark):
        pid = data["product"]["id"]
        await fan_out(kernel, "product.stock_low", message_id(event_id, f"low{pid}"), data)
