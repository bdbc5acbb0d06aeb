"""The guestbook's public module: what other plugins may import (nothing else of it)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_guestbook import hookspecs as hooks
from commerce_guestbook.models import Entry
from commerce_guestbook.settings import GuestbookSettings
from commerce_kernel import Kernel

CHANNEL = "guestbook"
"""The pub/sub channel (and WebSocket `/ws/guestbook/`): `{"id", "words"}` per counted entry."""

COUNT_WORDS = "guestbook.count_words"


class EntryOut(BaseModel):
    id: int
    text: str
    words: int | None


def _out(entry: Entry) -> EntryOut:
    return EntryOut(id=entry.id, text=entry.text, words=entry.words)


async def sign(kernel: Kernel, account_id: int, text: str) -> EntryOut:
    """Add an entry for `account_id`, its text rewritten by the `guestbook_text` hook, and
    queue its word count (published on `CHANNEL` once counted)."""
    text = await kernel.hooks.call(
        hooks.guestbook_text, kernel=kernel, account_id=account_id, text=text
    )
    async with kernel.db.transaction() as session:
        entry = Entry(account_id=account_id, text=text)
        session.add(entry)
        await session.flush()
        out = _out(entry)
    await kernel.queue.enqueue(COUNT_WORDS, out.id)
    return out


async def entries(session: AsyncSession) -> list[EntryOut]:
    """Every entry, oldest first."""
    rows = (await session.execute(select(Entry).order_by(Entry.id))).scalars()
    return [_out(e) for e in rows]


__all__ = ["CHANNEL", "COUNT_WORDS", "EntryOut", "GuestbookSettings", "entries", "hooks", "sign"]
