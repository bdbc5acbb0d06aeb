"""Which event types anyone subscribes to, decided in the shop event's own transaction.

Each shop event is a durable listener of this plugin, and a durable delivery costs a row, a
task and a worker's transaction even when no endpoint wants it (a shop with no webhooks would
pay it on every order and every imported product). So each listener is marked
`@durable(wanted=...)`: the event's transaction reads the one `webhook_subscribed` row, the
union of the event types of the enabled endpoints, and keeps the event only if that union
has one of its webhook types.

Decided so that no endpoint misses an event whose fact commits after the endpoint did: every
change to the endpoints rewrites that row in its own transaction (an exclusive lock until it
commits), and the event's transaction reads it with a shared lock (on SQLite the whole write
is one writer at a time). Either the endpoint's change commits first and the event reads the
union with it, or the event holds the row first and the change waits for the fact's commit.
Events do not wait for one another (shared locks). The answer is kept for the rest of the
transaction: the row cannot change under a shared lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_kernel import utcnow
from commerce_kernel.db import rowcount
from commerce_webhooks.models import Endpoint, StockLow, Subscribed

if TYPE_CHECKING:
    from commerce_kernel import Event, Kernel

ROW = 1
STOCK_LOW = "product.stock_low"
_KEY = "commerce_webhooks.subscribed"
_READ = select(Subscribed.event_types).where(Subscribed.id == ROW).with_for_update(read=True)


async def subscribed(session: AsyncSession) -> frozenset[str] | None:
    """The event types some enabled endpoint subscribes to, read with a shared lock that
    holds until `session`'s transaction ends; None when the row is missing (then every event
    is kept, as before the row existed)."""
    sync = session.sync_session
    transaction = sync.get_transaction()
    held = sync.info.get(_KEY)
    if held is not None and held[0] is transaction:
        return held[1]
    found = await session.scalar(_READ)
    types = None if found is None else frozenset(found)
    sync.info[_KEY] = (transaction, types)
    return types


def wanted(types: Callable[[Mapping[str, Any]], Iterable[str]]) -> Any:
    """A `wanted` predicate for `@durable`: keep the event when an endpoint subscribes to one
    of the webhook types `types(payload)` it may become."""

    async def predicate(kernel: Kernel, session: AsyncSession, event: Event) -> bool:
        have = await subscribed(session)
        return have is None or not have.isdisjoint(types(event.payload))

    return predicate


async def refresh(session: AsyncSession) -> None:
    """Rewrite the union after a change to the endpoints, in that change's transaction. With
    nobody subscribed to `product.stock_low`, the products remembered as announced low are
    forgotten: an endpoint subscribing later hears of each the next time its stock falls."""
    now = utcnow()
    # The exclusive lock first: two changes to the endpoints take turns here.
    taken = await session.execute(
        update(Subscribed).where(Subscribed.id == ROW).values(updated_at=now)
    )
    types: set[str] = set()
    for event_types in await session.scalars(
        select(Endpoint.event_types).where(Endpoint.enabled.is_(True))
    ):
        types.update(event_types)
    if rowcount(taken):
        await session.execute(
            update(Subscribed).where(Subscribed.id == ROW).values(event_types=sorted(types))
        )
    else:
        session.add(Subscribed(id=ROW, event_types=sorted(types), updated_at=now))
    if STOCK_LOW not in types:
        await session.execute(delete(StockLow))
    sync = session.sync_session
    sync.info[_KEY] = (sync.get_transaction(), frozenset(types))
