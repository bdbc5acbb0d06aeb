"""After-commit events with a durable form for listeners that must not lose one.

An event is a hook spec declared `@hookspec(Compose.BROADCAST, isolate=True)` whose arguments
are `kernel`, `event_id` and JSON-compatible values (`order_placed(kernel, event_id, order)`).
The plugin that owns the fact records it inside the fact's transaction:

    async with kernel.db.transaction() as session:
        ...                                   # the fact itself (the order)
        await kernel.events.record(session, hooks.order_placed, order=data)
    # committed: the event has been announced

`record` writes, inside the fact's own transaction, one delivery row per durable listener
(`@durable @hookimpl`), so the event exists exactly when the fact does; a listener marked
`@durable(wanted=predicate)` is asked first (`await predicate(kernel, session, event)`, in that
transaction) and gets no row when it answers False (an error of the predicate counts as True;
a database error is the transaction's and is raised). Once that transaction commits, the event
is announced (`announce`): the other listeners are called at once in this process (isolated: a
failure is logged, the fact stands, and the event is not repeated for them), then one delivery
task is queued per durable row. A rolled-back transaction announces nothing. Code may record an
event in a transaction it did not open (a hook called inside another plugin's transaction): it
is announced when that transaction commits. Only a session committed by hand, not through
`kernel.db.transaction()`, needs `await kernel.events.announce(event)` after its commit
(announcing twice is harmless).

The guarantee for a durable listener: it is called at least once for every committed event
(that its `wanted`, if any, accepted), with the same `event_id` on every try, until it returns
without raising: a failure retries with the task queue's backoff, a lost task (Redis down at
commit, a killed worker or process) is queued again by the `kernel.redeliver_events` cron job,
every minute, for deliveries older than `REDELIVER_AFTER` seconds. Two tries may overlap after
such a loss, so a listener is idempotent by `event_id` (a unique key on it in its own table is
the usual way). Delivered rows are purged after a week; a row still failing after
`MAX_ATTEMPTS` tries is kept and logged for a person to look at.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import CursorResult, Index, Integer, String, Text, delete, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from commerce_kernel.db import Base, UTCDateTime, after_commit, scoped_add, utcnow
from commerce_kernel.markers import Wanted
from commerce_kernel.routing import dumps
from commerce_kernel.tasks import GiveUp, TaskContext

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel

logger = logging.getLogger("commerce.events")

DELIVER = "kernel.deliver_event"
REDELIVER = "kernel.redeliver_events"
REDELIVER_AFTER = 30.0
MAX_ATTEMPTS = 25
KEEP_DELIVERED = timedelta(days=7)


class EventDelivery(Base):
    """One event for one durable listener: written with the fact, marked when delivered."""

    __tablename__ = "kernel_event_deliveries"
    __table_args__ = (Index("ix_kernel_event_deliveries_pending", "delivered_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32))
    hook: Mapped[str] = mapped_column(String(100))
    plugin: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass
class Event:
    """A recorded event, to be announced after its transaction commits."""

    spec: Callable[..., Awaitable[None]]
    event_id: str
    payload: dict[str, Any]
    rows: list[EventDelivery] = field(default_factory=list)
    announced: bool = False

    @property
    def deliveries(self) -> list[int]:
        """The ids of its durable deliveries (known once its transaction flushed)."""
        return [row.id for row in self.rows]


_AT_COMMIT = "commerce.events.at_commit"


def _write_at_commit(session: AsyncSession, rows: list[EventDelivery]) -> None:
    """Add `rows` to the session as it commits (SQLAlchemy's `before_commit`, so a session
    committed by hand too), so the deliveries of all the transaction's events go in one
    INSERT; dropped if the transaction, or the savepoint they were recorded in, rolls back."""
    sync = session.sync_session
    if not sync.in_transaction():
        sync.begin()  # as the flush that wrote them at once did: they belong to this one
    if _AT_COMMIT not in sync.info:
        sa_event.listen(sync, "before_commit", _add_pending)
    scoped_add(session, _AT_COMMIT, rows)


def _add_pending(sync: Session) -> None:
    pending = sync.info.get(_AT_COMMIT) or []
    for _, rows in pending:
        sync.add_all(rows)
    pending.clear()


class Events:
    """`kernel.events`: record an event inside the fact's transaction, announce it after."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def listened(self, spec: Callable[..., Awaitable[None]]) -> bool:
        """True when anyone listens to the event (skip building what nobody reads)."""
        hooks = self.kernel.hooks
        return bool(hooks.implementers(spec) or hooks.durable_listeners(spec))

    async def record(
        self, session: AsyncSession, spec: Callable[..., Awaitable[None]], **payload: Any
    ) -> Event:
        """Write the event's durable deliveries in `session`'s transaction. `payload` is every
        argument of the spec but `kernel` and `event_id`; it must be JSON-compatible (money
        and times as the API shows them), and listeners receive it as JSON would give it."""
        event_id = uuid.uuid4().hex
        data = orjson.loads(dumps(payload))
        event = Event(spec, event_id, data)
        listeners = [
            name
            for name, wanted in self.kernel.hooks.durable_wanted(spec)
            if wanted is None or await self._wanted(wanted, name, session, event)
        ]
        if listeners:
            text = orjson.dumps(data).decode()
            rows = [
                EventDelivery(
                    event_id=event_id,
                    hook=spec.__name__,
                    plugin=name,
                    payload=text,
                    created_at=utcnow(),
                )
                for name in listeners
            ]
            _write_at_commit(session, rows)
            event.rows = rows
        after_commit(session, lambda: self.announce(event))
        return event

    async def _wanted(
        self, wanted: Wanted, plugin: str, session: AsyncSession, event: Event
    ) -> bool:
        try:
            return bool(await wanted(self.kernel, session, event))
        except DBAPIError:
            raise  # the fact's transaction failed with it (a deadlock is retried whole)
        except Exception:
            # Undecided is not "no": the row is written and the listener decides when called.
            logger.exception(
                "the %s listener of %s could not say if it wants an event",
                event.spec.__name__,
                plugin,
            )
            return True

    async def announce(self, event: Event) -> None:
        """After commit: call the ordinary listeners now, queue the durable deliveries.
        Done for you when the event's `kernel.db.transaction()` commits; once per event."""
        if event.announced:
            return
        event.announced = True
        await self.kernel.hooks.call(
            event.spec, kernel=self.kernel, event_id=event.event_id, **event.payload
        )
        for delivery_id in event.deliveries:
            await self.enqueue(delivery_id)

    async def enqueue(self, delivery_id: int) -> None:
        try:
            await self.kernel.queue.enqueue(DELIVER, delivery_id, job_id=f"event:{delivery_id}")
        except Exception:
            # The row is in the database: the redelivery cron job queues it again.
            logger.warning("could not queue event delivery %s; it will be retried", delivery_id)


async def deliver(ctx: TaskContext, delivery_id: int) -> None:
    """The delivery task: call one durable listener with its event, then mark it delivered."""
    kernel = ctx.kernel
    async with kernel.db.transaction() as session:
        row = await session.get(EventDelivery, delivery_id)
        if row is None or row.delivered_at is not None:
            return
        row.attempts += 1
        hook, plugin, event_id, payload = row.hook, row.plugin, row.event_id, row.payload
    listener = kernel.hooks.durable_listener(hook, plugin)
    if listener is None:
        # The plugin was disabled or no longer listens: keep the row, try later.
        raise GiveUp(f"no durable {hook} listener of plugin {plugin!r} is loaded")
    result = listener(kernel=kernel, event_id=event_id, **orjson.loads(payload))
    if isinstance(result, Awaitable):
        await result
    async with kernel.db.transaction() as session:
        await session.execute(
            update(EventDelivery)
            .where(EventDelivery.id == delivery_id, EventDelivery.delivered_at.is_(None))
            .values(delivered_at=utcnow())
        )


async def redeliver(ctx: TaskContext, *, older_than: float = REDELIVER_AFTER) -> int:
    """The cron job: queue again every delivery not done after `older_than` seconds; purge
    old delivered rows. Returns how many were queued."""
    kernel = ctx.kernel
    now = utcnow()
    async with kernel.db.transaction() as session:
        pending = list(
            (
                await session.execute(
                    select(EventDelivery.id, EventDelivery.attempts)
                    .where(
                        EventDelivery.delivered_at.is_(None),
                        EventDelivery.created_at < now - timedelta(seconds=older_than),
                    )
                    .order_by(EventDelivery.id)
                    .limit(1000)
                )
            ).all()
        )
        purged: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
            delete(EventDelivery).where(EventDelivery.delivered_at < now - KEEP_DELIVERED)
        )
    queued = 0
    for delivery_id, attempts in pending:
        if attempts >= MAX_ATTEMPTS:
            logger.error(
                "event delivery %s failed %d times; left for a person", delivery_id, attempts
            )
            continue
        await kernel.events.enqueue(delivery_id)
        queued += 1
    if purged.rowcount:
        logger.info("purged %d delivered events", purged.rowcount)
    return queued


__all__ = ["Event", "EventDelivery", "Events", "deliver", "redeliver"]
