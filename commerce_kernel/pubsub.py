"""Publish/subscribe on named channels: in-memory in one process, Redis across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

logger = logging.getLogger("commerce.pubsub")


class Subscription:
    """Messages of one channel for one subscriber, in order. Iterate it."""

    def __init__(self, hub: PubSub, channel: str, maxsize: int = 1000) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    def deliver(self, message: Any) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A subscriber that cannot keep up loses the oldest message, never blocks others.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(message)

    async def get(self) -> Any:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while True:
            yield await self.queue.get()


class PubSub:
    """In-memory hub: every subscriber in this process gets every message (a broadcast)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subs.clear()

    async def publish(self, channel: str, message: Any) -> None:
        self._fan_out(channel, message)

    def _fan_out(self, channel: str, message: Any) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub = Subscription(self, channel)
        first = channel not in self._subs
        self._subs.setdefault(channel, set()).add(sub)
        if first:
            await self._listen(channel)
        try:
            yield sub
        finally:
            subs = self._subs.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[channel]
                    await self._unlisten(channel)

    async def _listen(self, channel: str) -> None:
        return None

    async def _unlisten(self, channel: str) -> None:
        return None

    async def ping(self) -> None:
        return None


class RedisPubSub(PubSub):
    """Redis pub/sub: one connection per process, fanned out to local subscribers."""

    def __init__(self, redis_url: str, prefix: str = "commerce:") -> None:
        super().__init__()
        self.redis_url = redis_url
        self.PREFIX = f"{prefix}ps:"
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(self.redis_url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        await super().stop()

    async def publish(self, channel: str, message: Any) -> None:
        await self._redis.publish(self.PREFIX + channel, orjson.dumps(message))

    async def _listen(self, channel: str) -> None:
        async with self._lock:
            await self._pubsub.subscribe(self.PREFIX + channel)

    async def _unlisten(self, channel: str) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self.PREFIX + channel)

    async def _read(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                msg = await self._pubsub.get_message(timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                channel = msg["channel"].decode()[len(self.PREFIX) :]
                self._fan_out(channel, orjson.loads(msg["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Connection trouble: redis-py reconnects and resubscribes on the next read.
                logger.warning("pub/sub read failed (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def ping(self) -> None:
        await self._redis.ping()
