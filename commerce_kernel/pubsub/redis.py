"""Redis pub/sub: one subscribing connection per process, fanned out to local subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from commerce_kernel.pubsub import PubSub, Versioned

logger = logging.getLogger("commerce.pubsub")

# KEYS[1]: the channel's sequence; started at the Redis server's clock in microseconds, so it
# keeps growing after Redis lost it (a restart without persistence).
_START = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
end
"""

# KEYS[2]: key -> latest published version; KEYS[3]: the channel. ARGV: key, version, JSON
# object, ... One script: compare, number and publish cannot interleave with another process.
_PUBLISH = (
    _START
    + """
local out = {}
for i = 1, #ARGV, 3 do
  local current = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    local seq = redis.call('INCR', KEYS[1])
    local body = '{"seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[i + 2], 2)
    redis.call('PUBLISH', KEYS[3], body)
    out[#out + 1] = seq
  else
    out[#out + 1] = 0
  end
end
return out
"""
)

_SEQUENCE = _START + "return redis.call('GET', KEYS[1])"


class RedisPubSub(PubSub):
    """Messages reach the subscribers of every process on the same Redis and `REDIS_PREFIX`."""

    def __init__(self, redis: Redis, prefix: str = "commerce:") -> None:
        super().__init__()
        self.redis = redis
        self.prefix = f"{prefix}ps:"
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirmed: dict[bytes, asyncio.Event] = {}
        self._publish_script = redis.register_script(_PUBLISH)
        self._sequence_script = redis.register_script(_SEQUENCE)

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
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

    async def publish_versioned(
        self, channel: str, messages: Sequence[Versioned]
    ) -> list[int | None]:
        if not messages:
            return []
        args: list[str | int | bytes] = []
        for item in messages:
            if not item.message or "seq" in item.message:
                raise ValueError("a sequenced message is a non-empty dict without 'seq'")
            args += [item.key, item.version, orjson.dumps(item.message)]
        keys = [f"{self.prefix}seq:{channel}", f"{self.prefix}ver:{channel}", self.prefix + channel]
        seqs = await self._publish_script(keys=keys, args=args)
        return [int(s) or None for s in seqs]

    async def forget_versions(self) -> None:
        keys = [k async for k in self.redis.scan_iter(match=f"{self.prefix}ver:*", count=1000)]
        if keys:
            await self.redis.delete(*keys)

    async def sequence(self, channel: str) -> int:
        return int(await self._sequence_script(keys=[f"{self.prefix}seq:{channel}"]))

    async def _listen(self, channel: str) -> None:
        # SUBSCRIBE is not in force until Redis confirms it: a message published before then
        # would be lost, so `subscribe()` returns once the confirmation came (or after 5 s).
        name = (self.prefix + channel).encode()
        confirmed = self._confirmed[name] = asyncio.Event()
        async with self._lock:
            await self._pubsub.subscribe(self.prefix + channel)
        try:
            await asyncio.wait_for(confirmed.wait(), 5)
        except TimeoutError:
            logger.warning("Redis did not confirm the subscription to %s within 5 s", channel)
        finally:
            self._confirmed.pop(name, None)

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
                if msg is None:
                    continue
                if msg.get("type") == "subscribe":
                    confirmed = self._confirmed.get(msg["channel"])
                    if confirmed is not None:
                        confirmed.set()
                    continue
                if msg.get("type") != "message":
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
