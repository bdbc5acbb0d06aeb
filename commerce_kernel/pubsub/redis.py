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
        self._live: set[bytes] = set()
        """Channels whose subscription Redis confirmed: a second confirmation is a gap."""
        self._heard: set[bytes] = set()
        """Channels whose subscription Redis confirmed on the current connection."""
        self._broken = False
        """The connection failed (or a subscribe did): the reader makes a new one."""
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
        try:
            async with self._lock:
                await self._pubsub.subscribe(self.prefix + channel)
            await asyncio.wait_for(confirmed.wait(), 5)
        except TimeoutError:
            logger.warning("Redis did not confirm the subscription to %s within 5 s", channel)
            self._live.add(name)  # the confirmation, when it comes, is a gap
        except Exception as exc:
            # Redis is away: the reader subscribes to every wanted channel once it is back,
            # and that confirmation is a gap.
            logger.warning("could not subscribe to %s yet (%s)", channel, exc)
            self._live.add(name)
            self._broken = True
        finally:
            self._confirmed.pop(name, None)

    async def _unlisten(self, channel: str) -> None:
        name = (self.prefix + channel).encode()
        self._live.discard(name)
        self._heard.discard(name)
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self.prefix + channel)

    async def _read(self) -> None:
        """Read messages, and own the connection: when it fails, drop it and subscribe on a
        new one to every channel still wanted. (Not redis-py's reconnect inside a read: left to
        it, this reader stopped hearing after some Redis restarts, and a reconnect there may
        race a concurrent subscribe; here every (re)connect holds the lock.)"""
        while True:
            try:
                if self._broken:
                    await self._reconnect()
                    continue
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                msg = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("pub/sub connection lost (%s); reconnecting", exc)
                await self._reconnect()
                continue
            if msg is not None:
                self._arrived(msg)

    def _arrived(self, msg: dict[str, Any]) -> None:
        kind, name = msg.get("type"), msg.get("channel")
        if not isinstance(name, bytes):
            return
        if kind == "subscribe":
            confirmed = self._confirmed.get(name)
            if confirmed is not None:
                confirmed.set()
            if name in self._live:  # subscribed again: what was published meanwhile is lost
                self._gap(name.decode()[len(self.prefix) :])
            self._live.add(name)
            self._heard.add(name)
        elif kind == "message":
            try:
                self._fan_out(name.decode()[len(self.prefix) :], orjson.loads(msg["data"]))
            except Exception:
                logger.exception("bad pub/sub message on %r", name)

    async def _reconnect(self) -> None:
        """A new connection subscribed to every wanted channel, retried until Redis answers;
        each SUBSCRIBE's confirmation then tells that channel's subscribers of the gap."""
        self._broken = True
        pause = 0.1
        while True:
            async with self._lock:
                old, self._pubsub = self._pubsub, self.redis.pubsub()
                self._heard.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.aclose(), 2)
                wanted = [self.prefix + channel for channel in self._subs]
                try:
                    if wanted:
                        await asyncio.wait_for(self._pubsub.subscribe(*wanted), 5)
                    self._broken = False
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.debug("pub/sub not back yet (%s)", exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    def listening(self, channel: str) -> bool:
        name = (self.prefix + channel).encode()
        return not self._broken and name in self._heard

    async def ping(self) -> None:
        await self.redis.ping()
