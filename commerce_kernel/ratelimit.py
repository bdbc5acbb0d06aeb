"""Fixed-window rate limits shared by every process (Redis) or held in this process."""

from __future__ import annotations

import time
from typing import Any


class RateLimiter:
    """In-process counters: enough for the one-process embedded default."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window: float) -> int | None:
        """Count one event; return seconds to wait when `limit` is exceeded, else None."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window}
        if count > limit:
            return max(1, int(window - (now - start)) + 1)
        return None

    async def retry_after(self, key: str, limit: int, window: float) -> int | None:
        """Seconds to wait if `key` is already over `limit` (without counting), else None."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window or count < limit:
            return None
        return max(1, int(window - (now - start)) + 1)

    async def count(self, key: str, window: float) -> int:
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        return 0 if now - start >= window else count

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter(RateLimiter):
    """Counters in Redis (INCR + EXPIRE in one transaction), so limits hold across processes."""

    def __init__(self, redis: Any, prefix: str = "commerce:") -> None:
        super().__init__()
        self.redis = redis
        self.PREFIX = f"{prefix}rl:"

    async def hit(self, key: str, limit: int, window: float) -> int | None:
        k = self.PREFIX + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(k)
            pipe.expire(k, int(window), nx=True)
            pipe.ttl(k)
            count, _, ttl = await pipe.execute()
        if count > limit:
            return max(1, int(ttl))
        return None

    async def retry_after(self, key: str, limit: int, window: float) -> int | None:
        k = self.PREFIX + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(k)
            pipe.ttl(k)
            count, ttl = await pipe.execute()
        if count is None or int(count) < limit:
            return None
        return max(1, int(ttl))

    async def count(self, key: str, window: float) -> int:
        value = await self.redis.get(self.PREFIX + key)
        return int(value or 0)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.PREFIX + key)
