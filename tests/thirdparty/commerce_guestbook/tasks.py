"""The guestbook's background work: a task per entry and two cron jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from commerce_guestbook.api import CHANNEL, COUNT_WORDS
from commerce_guestbook.models import Entry, Tick
from commerce_guestbook.settings import GuestbookSettings
from commerce_kernel import CronJob, Task, TaskContext, utcnow

TICK = "guestbook.tick"
PURGE = "guestbook.purge"


async def count_words(ctx: TaskContext, entry_id: int) -> None:
    """Store an entry's word count and publish it (idempotent: a retry counts again)."""
    async with ctx.kernel.db.transaction() as session:
        entry = await session.get(Entry, entry_id)
        if entry is None:
            return
        words = len(entry.text.split())
        await session.execute(update(Entry).where(Entry.id == entry_id).values(words=words))
    await ctx.kernel.pubsub.publish(CHANNEL, {"id": entry_id, "words": words})


async def tick(ctx: TaskContext) -> None:
    slot = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    async with ctx.kernel.db.transaction() as session:
        session.add(Tick(slot=slot))


async def purge(ctx: TaskContext) -> None:
    """Delete the entries older than GUESTBOOK_KEEP_DAYS."""
    cutoff = utcnow() - timedelta(days=ctx.kernel.section(GuestbookSettings).keep_days)
    async with ctx.kernel.db.transaction() as session:
        await session.execute(delete(Entry).where(Entry.created_at < cutoff))


def all_tasks() -> list[Task]:
    return [Task(COUNT_WORDS, count_words, max_tries=3)]


def all_cron_jobs() -> list[CronJob]:
    return [
        CronJob(TICK, tick, second=None),
        CronJob(PURGE, purge, hour=3, minute=0),
    ]
