"""The webhooks plugin module (its entry point): the declaration and every hook it
implements. Every shop event reaches it through a durable listener (`@durable @hookimpl`),
whose delivery row the kernel writes in the fact's own transaction: that is the outbox. Each
listener declines, in that transaction, an event no enabled endpoint subscribes to (the
webhook types it may become, `commerce_webhooks.subscribed`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from commerce_kernel import (
    CronJob,
    Kernel,
    Plugin,
    SectionSettings,
    Task,
    durable,
    hookimpl,
)
from commerce_webhooks import __version__, delivery, events
from commerce_webhooks.routes import build_routes
from commerce_webhooks.settings import WebhooksSettings
from commerce_webhooks.subscribed import STOCK_LOW, wanted

plugin = Plugin(
    name="webhooks",
    version=__version__,
    requires=("catalog", "orders"),
    kernel=">=0.1,<0.2",
    description="Signed webhooks (Standard Webhooks) for shop events, retried, never lost.",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [WebhooksSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return build_routes()


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return delivery.tasks(kernel)


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return [CronJob(delivery.SWEEP, delivery.sweep_cron, second=0)]


@durable(wanted=wanted(lambda _: ["order.placed"]))
@hookimpl
async def order_placed(kernel: Kernel, event_id: str, order: Mapping[str, Any]) -> None:
    await events.order_placed(kernel, event_id, order)


@durable(
    wanted=wanted(
        lambda payload: (
            ["order.status_changed"]
            + (["order.cancelled"] if payload["new_status"] == "cancelled" else [])
        )
    )
)
@hookimpl
async def order_status_changed(
    kernel: Kernel, event_id: str, order: Mapping[str, Any], old_status: str, new_status: str
) -> None:
    await events.order_status_changed(kernel, event_id, order, old_status, new_status)


@durable(wanted=wanted(lambda _: ["product.created"]))
@hookimpl
async def product_created(kernel: Kernel, event_id: str, product: Mapping[str, Any]) -> None:
    await events.one_message(kernel, "product.created", event_id, {"product": product})


@durable(
    wanted=wanted(
        lambda payload: ["product.updated"] + ([STOCK_LOW] if "stock" in payload["changed"] else [])
    )
)
@hookimpl
async def product_updated(
    kernel: Kernel, event_id: str, product: Mapping[str, Any], changed: list[str]
) -> None:
    data = {"product": product, "changed": changed}
    await events.one_message(kernel, "product.updated", event_id, data)
    if "stock" in changed:
        await events.stock_changed(kernel, event_id, [product["id"]])


@durable(wanted=wanted(lambda _: ["product.retired"]))
@hookimpl
async def product_retired(kernel: Kernel, event_id: str, product: Mapping[str, Any]) -> None:
    await events.one_message(kernel, "product.retired", event_id, {"product": product})


@durable(wanted=wanted(lambda _: [STOCK_LOW]))
@hookimpl
async def sold_counts_changed(
    kernel: Kernel, event_id: str, counts: list[Mapping[str, Any]]
) -> None:
    await events.stock_changed(kernel, event_id, [c["product_id"] for c in counts])


@durable(wanted=wanted(lambda _: ["bulk_upload.finished"]))
@hookimpl
async def bulk_upload_finished(kernel: Kernel, event_id: str, job: Mapping[str, Any]) -> None:
    await events.one_message(kernel, "bulk_upload.finished", event_id, {"job": job})
