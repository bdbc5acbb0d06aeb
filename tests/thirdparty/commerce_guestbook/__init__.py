"""A third-party plugin used only by the tests: a table with its migration, a route, a task,
a WebSocket channel, middleware, and a hook of its own that another plugin implements."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from commerce_guestbook import hookspecs
from commerce_kernel import Plugin, hookimpl
from commerce_kernel.db import Base, UTCDateTime, utcnow
from commerce_kernel.identity import customer
from commerce_kernel.routing import Call, api_route, routes_from
from commerce_kernel.tasks import CronJob, Task, TaskContext

plugin = Plugin(name="guestbook", version="0.0.1", kernel=">=0.1", hookspecs=hookspecs)
CHANNEL = "guestbook"


class Entry(Base):
    __tablename__ = "guestbook_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))
    words: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tick(Base):
    """One row per run of the per-second cron job: two rows for one second = a double run."""

    __tablename__ = "guestbook_ticks"

    id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[str] = mapped_column(String(32))


class EntryIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


class EntryOut(BaseModel):
    id: int
    text: str
    words: int | None


@api_route(
    "/api/guestbook/",
    "POST",
    guard=customer,
    body=EntryIn,
    response=EntryOut,
    status=201,
    summary="Sign the guestbook",
)
async def sign(call: Call) -> Any:
    kernel = call.kernel
    text = await kernel.hooks.call("guestbook_text", text=call.body.text)
    async with kernel.db.transaction() as session:
        entry = Entry(account_id=call.account_id, text=text)
        session.add(entry)
        await session.flush()
        out = EntryOut(id=entry.id, text=entry.text, words=None)
    await kernel.queue.enqueue("guestbook.count_words", out.id)
    return out


@api_route("/api/guestbook/", response=list[EntryOut], summary="Read the guestbook")
async def read(call: Call) -> Any:
    async with call.kernel.db.session() as session:
        rows = (await session.execute(select(Entry).order_by(Entry.id))).scalars()
        return [EntryOut(id=e.id, text=e.text, words=e.words) for e in rows]


async def count_words(ctx: TaskContext, entry_id: int) -> None:
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


async def live(websocket: WebSocket) -> None:
    """Pushes `{"id", "words"}` whenever an entry has been counted, from any process."""
    kernel = websocket.app.state.kernel
    await websocket.accept()
    async with kernel.pubsub.subscribe(CHANNEL) as sub:
        await websocket.send_json({"type": "ready"})

        async def push() -> None:
            while True:
                await websocket.send_json(await sub.get())

        pusher = asyncio.create_task(push())
        try:
            # Reading is how a disconnect is noticed; the pusher alone would wait forever.
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)


class StampMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-guestbook", b"1")]}
            await send(message)

        await self.app(scope, receive, stamped)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Any) -> list[Any]:
    return [*routes_from(sign, read), WebSocketRoute("/ws/guestbook/", live)]


@hookimpl
def tasks(kernel: Any) -> list[Task]:
    return [Task("guestbook.count_words", count_words, max_tries=3)]


@hookimpl
def cron_jobs(kernel: Any) -> list[CronJob]:
    return [CronJob("guestbook.tick", tick, second=None)]


@hookimpl
def middleware(kernel: Any) -> list[Middleware]:
    return [Middleware(StampMiddleware)]
