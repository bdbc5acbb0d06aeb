"""Rate limits in Redis (INCR + EXPIRE in one transaction), so they hold across processes."""

from __future__ import annotations

from redis.asyncio import Redis

from commerce_kernel.ratelimit import RateLimiter


class RedisRateLimiter(RateLimiter):
    """Counters under `REDIS_PREFIX` + `rl:`, on the kernel's one Redis client."""

    def __init__(self, redis: Redis, prefix: str = "commerce:") -> None:
        self.redis = redis
        self.prefix = f"{prefix}rl:"

    async def hit(self, key: str, limit: int, window: float) -> int | None:
        k = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(k)
            pipe.expire(k, int(window), nx=True)
            pipe.ttl(k)
            count, _, ttl = await pipe.execute()
        if count > limit:
            return max(1, int(ttl))
        return None

    async def retry_after(self, key: str, limit: int, window: float) -> int | None:
        k = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(k)
            pipe.ttl(k)
            count, ttl = await pipe.execute()
        if count is None or int(count) < limit:
            return None
        return max(1, int(ttl))

    async def count(self, key: str, window: float) -> int:
        value = await self.redis.get(self.prefix + key)
        return int(value or 0)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)

    async def clear(self) -> None:
        keys = [k async for k in self.redis.scan_iter(match=f"{self.prefix}*", count=1000)]
        if keys:
            await self.redis.delete(*keys)
