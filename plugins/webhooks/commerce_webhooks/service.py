"""Endpoints and deliveries: what the admin API does, without HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import MAX_INT_ID, Conflict, NotFound, UnprocessableEntity, utcnow
from commerce_webhooks import delivery, guard, signing, subscribed
from commerce_webhooks.models import Delivery, Endpoint
from commerce_webhooks.schemas import (
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    SecretRotated,
)
from commerce_webhooks.settings import WebhooksSettings

if TYPE_CHECKING:
    from commerce_kernel import Kernel


async def check_target(kernel: Kernel, url: str) -> None:
    """422 naming the reason unless `url` is an allowed target now."""
    try:
        await guard.resolve(url, kernel.section(WebhooksSettings))
    except guard.TargetRefused as exc:
        raise UnprocessableEntity(f"url: {exc}") from None


async def _endpoint(session: AsyncSession, endpoint_id: int, *, lock: bool = False) -> Endpoint:
    stmt = select(Endpoint).where(Endpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    found = await session.scalar(stmt) if 0 < endpoint_id <= MAX_INT_ID else None
    if found is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return found


async def create_endpoint(kernel: Kernel, body: EndpointIn) -> EndpointCreated:
    await check_target(kernel, body.url)
    now = utcnow()
    async with kernel.db.transaction() as session:
        endpoint = Endpoint(
            url=body.url,
            description=body.description,
            event_types=list(body.event_types),
            enabled=body.enabled,
            secret=signing.new_secret(),
            disabled_reason="",
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
        await session.flush()
        await subscribed.refresh(session)
        out = EndpointOut.model_validate(endpoint).model_dump()
        return EndpointCreated(**out, secret=endpoint.secret)


async def list_endpoints(kernel: Kernel, *, offset: int, limit: int) -> tuple[int, list[Any]]:
    async with kernel.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Endpoint))
        rows = await session.scalars(
            select(Endpoint).order_by(Endpoint.id.desc()).offset(offset).limit(limit)
        )
        return int(count or 0), [EndpointOut.model_validate(e) for e in rows]


async def get_endpoint(kernel: Kernel, endpoint_id: int) -> EndpointOut:
    async with kernel.db.session() as session:
        return EndpointOut.model_validate(await _endpoint(session, endpoint_id))


async def update_endpoint(kernel: Kernel, endpoint_id: int, changes: dict[str, Any]) -> EndpointOut:
    if "url" in changes:
        await check_target(kernel, changes["url"])
    async with kernel.db.transaction() as session:
        endpoint = await _endpoint(session, endpoint_id, lock=True)
        for field, value in changes.items():
            setattr(endpoint, field, list(value) if field == "event_types" else value)
        if changes.get("enabled"):
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
        endpoint.updated_at = utcnow()
        await session.flush()
        if "event_types" in changes or "enabled" in changes:
            await subscribed.refresh(session)
        return EndpointOut.model_validate(endpoint)


async def delete_endpoint(kernel: Kernel, endpoint_id: int) -> None:
    async with kernel.db.transaction() as session:
        endpoint = await _endpoint(session, endpoint_id, lock=True)
        await session.execute(delete(Delivery).where(Delivery.endpoint_id == endpoint_id))
        await session.delete(endpoint)
        await session.flush()
        await subscribed.refresh(session)


async def rotate_secret(kernel: Kernel, endpoint_id: int) -> SecretRotated:
    overlap = kernel.section(WebhooksSettings).secret_overlap
    now = utcnow()
    async with kernel.db.transaction() as session:
        endpoint = await _endpoint(session, endpoint_id, lock=True)
        if overlap > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_until = now + timedelta(seconds=overlap)
        else:
            endpoint.previous_secret = None
            endpoint.previous_secret_until = None
        endpoint.secret = signing.new_secret()
        endpoint.updated_at = now
        return SecretRotated(
            secret=endpoint.secret, previous_secret_until=endpoint.previous_secret_until
        )


async def list_deliveries(
    kernel: Kernel, endpoint_id: int, status: str | None, *, offset: int, limit: int
) -> tuple[int, list[Any]]:
    async with kernel.db.session() as session:
        await _endpoint(session, endpoint_id)
        where = [Delivery.endpoint_id == endpoint_id]
        if status:
            where.append(Delivery.status == status)
        count = await session.scalar(select(func.count()).select_from(Delivery).where(*where))
        rows = await session.scalars(
            select(Delivery).where(*where).order_by(Delivery.id.desc()).offset(offset).limit(limit)
        )
        return int(count or 0), [DeliveryOut.model_validate(d) for d in rows]


async def _requeue(kernel: Kernel, ids: list[int]) -> None:
    for delivery_id in ids:
        await delivery.enqueue(kernel, delivery_id, 0)


async def replay_delivery(kernel: Kernel, delivery_id: int) -> DeliveryOut:
    """Send a delivery again, with its original `webhook-id` and body and a fresh schedule."""
    async with kernel.db.transaction() as session:
        row = (
            await session.scalar(
                select(Delivery).where(Delivery.id == delivery_id).with_for_update()
            )
            if 0 < delivery_id <= MAX_INT_ID
            else None
        )
        if row is None:
            raise NotFound(f"Webhook delivery {delivery_id} does not exist.")
        endpoint = await _endpoint(session, row.endpoint_id)
        if not endpoint.enabled:
            raise Conflict(f"Webhook endpoint {endpoint.id} is disabled: enable it first.")
        _reset(row, utcnow())
        await session.flush()
        out = DeliveryOut.model_validate(row)
    await _requeue(kernel, [delivery_id])
    return out


def _reset(row: Delivery, now: datetime) -> None:
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.locked_until = None
    row.delivered_at = None


async def replay_failed(kernel: Kernel, endpoint_id: int, since: datetime) -> int:
    now = utcnow()
    async with kernel.db.transaction() as session:
        endpoint = await _endpoint(session, endpoint_id, lock=True)
        if not endpoint.enabled:
            raise Conflict(f"Webhook endpoint {endpoint_id} is disabled: enable it first.")
        ids = list(
            await session.scalars(
                select(Delivery.id).where(
                    Delivery.endpoint_id == endpoint_id,
                    Delivery.status == "failed",
                    Delivery.created_at >= since,
                )
            )
        )
        if ids:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == "failed")
                .values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    locked_until=None,
                    delivered_at=None,
                )
            )
    await _requeue(kernel, ids)
    return len(ids)
