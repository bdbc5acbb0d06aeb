"""Fixed-window rate limits: `retry_after = await kernel.limiter.hit(key, limit, window)`.

One interface, two backends: `ratelimit.memory.MemoryRateLimiter` (one process) and
`ratelimit.redis.RedisRateLimiter` (shared by every process of the deployment)."""

from __future__ import annotations


class RateLimiter:
    """Counters of events per key in a fixed window of `window` seconds."""

    async def hit(self, key: str, limit: int, window: float) -> int | None:
        """Count one event; return seconds to wait when `limit` is exceeded, else None."""
        raise NotImplementedError

    async def retry_after(self, key: str, limit: int, window: float) -> int | None:
        """Seconds to wait if `key` is already at `limit` (without counting), else None."""
        raise NotImplementedError

    async def count(self, key: str, window: float) -> int:
        """Events counted for `key` in its current window."""
        raise NotImplementedError

    async def reset(self, key: str) -> None:
        """Forget the events of `key` (a successful sign-in clears its failures)."""
        raise NotImplementedError

    async def clear(self) -> None:
        """Forget every counter of this deployment (tests)."""
        raise NotImplementedError


__all__ = ["RateLimiter"]
