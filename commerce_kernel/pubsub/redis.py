"""Redis pub/sub: one subscribing connection per process, fanned out to local subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis

from commerce_kernel.pubsub import PubSub

logger = logging.getLogger("commerce.pubsub")


class RedisPubSub(PubSub):
    """Messages reach the subscribers of every process on the same Redis and `REDIS_PREFIX`."""

    def __init__(self, redis: Redis, prefix: str = "commerce:") -> None:
        super().__init__()
        self.redis = redis
        self.prefix = f"{prefix}ps:"
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await super().stop()

    async def publish(self, channel: str, message: Any) -> None:
        await self.redis.publish(self.prefix + channel, orjson.dumps(message))

    async def _listen(self, channel: str) -> None:
        async with self._lock:
            await self._pubsub.subscribe(self.prefix + channel)

    async def _unlisten(self, channel: str) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self.prefix + channel)

    async def _read(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                msg = await self._pubsub.get_message(timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                channel = msg["channel"].decode()[len(self.prefix) :]
                self._fan_out(channel, orjson.loads(msg["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Connection trouble: redis-py reconnects and resubscribes on the next read.
                logger.warning("pub/sub read failed (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def ping(self) -> None:
        await self.redis.ping()
