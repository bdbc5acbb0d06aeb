"""Idempotency keys: claim a customer's key once across every process, replay what it made."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import Kernel
from commerce_kernel.db import rowcount, utcnow, with_retries
from commerce_kernel.errors import Conflict
from commerce_orders.models import IdempotencyKey, KeyState
from commerce_orders.settings import OrdersSettings

logger = logging.getLogger("commerce.orders.idempotency")

RETRY_AFTER = "1"


@dataclass(frozen=True)
class Claim:
    """This request owns the key until it marks it done (or releases it)."""

    id: int
    token: str


def request_hash(items: list[tuple[int, int]] | None) -> str:
    """What the key promises to repeat: the items as sent, or "the cart"."""
    body: dict[str, object] = {"cart": True} if items is None else {"items": items}
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def in_flight() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        headers={"Retry-After": RETRY_AFTER},
    )


async def claim_key(kernel: Kernel, account_id: int, key: str, req_hash: str) -> Claim | int:
    """Claim `key` for this request (a Claim), or the id of the order it already placed.

    The claim is its own short transaction: the unique (account_id, key_hash) index decides
    which of any number of concurrent requests, in any process, wins. Losers see the winner's
    row: a different body → 409; done → its order; still in flight → 409 with Retry-After;
    in flight for longer than a request can live → that request died, take the claim over.
    """
    settings = kernel.section(OrdersSettings)
    key_hash = _key_hash(key)

    async def attempt() -> Claim | int | None:
        now = utcnow()
        token = uuid.uuid4().hex
        row = IdempotencyKey(
            account_id=account_id,
            key_hash=key_hash,
            request_hash=req_hash,
            state=KeyState.IN_FLIGHT.value,
            claim_token=token,
            created_at=now,
            claimed_at=now,
        )
        try:
            async with kernel.db.transaction() as session:
                session.add(row)
            return Claim(row.id, token)
        except IntegrityError:
            pass  # someone holds the key: look at what they made of it
        async with kernel.db.transaction() as session:
            held = (
                await session.execute(
                    select(IdempotencyKey).where(
                        IdempotencyKey.account_id == account_id,
                        IdempotencyKey.key_hash == key_hash,
                    )
                )
            ).scalar_one_or_none()
            if held is None:
                return None  # released meanwhile: try to claim again
            if held.request_hash != req_hash:
                raise Conflict(
                    "This Idempotency-Key was already used with a different request body."
                )
            if held.state == KeyState.DONE.value and held.order_id is not None:
                return held.order_id
            if held.claimed_at > now - timedelta(seconds=settings.idempotency_stale_seconds):
                raise in_flight()
            taken = await session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.id == held.id,
                    IdempotencyKey.claim_token == held.claim_token,
                    IdempotencyKey.state == KeyState.IN_FLIGHT.value,
                )
                .values(claim_token=token, claimed_at=now)
            )
            return Claim(held.id, token) if rowcount(taken) == 1 else None

    for _ in range(5):
        result = await with_retries(attempt)
        if result is not None:
            return result
    raise in_flight()


async def mark_done(session: AsyncSession, claim: Claim, order_id: int) -> None:
    """Inside the order's transaction: the key now answers with this order."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == claim.id,
            IdempotencyKey.claim_token == claim.token,
            IdempotencyKey.state == KeyState.IN_FLIGHT.value,
        )
        .values(state=KeyState.DONE.value, order_id=order_id)
    )
    if rowcount(result) != 1:
        # We were so slow that a retry took the claim over: let it place the order.
        raise in_flight()


async def release(kernel: Kernel, claim: Claim) -> None:
    """The order failed: free the key so a retry can proceed (a no-op once it is done)."""
    try:
        async with kernel.db.transaction() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.id == claim.id,
                    IdempotencyKey.claim_token == claim.token,
                    IdempotencyKey.state == KeyState.IN_FLIGHT.value,
                )
            )
    except Exception:
        # The claim goes stale and a retry takes it over after idempotency_stale_seconds.
        logger.warning("could not release idempotency claim %s", claim.id, exc_info=True)


async def purge_expired(kernel: Kernel) -> int:
    """Forget keys older than the retention period (ORDERS_IDEMPOTENCY_TTL_HOURS)."""
    hours = kernel.section(OrdersSettings).idempotency_ttl_hours
    async with kernel.db.transaction() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.created_at < utcnow() - timedelta(hours=hours)
            )
        )
    return rowcount(result)
