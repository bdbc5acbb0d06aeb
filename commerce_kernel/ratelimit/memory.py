"""In-process rate limits: enough for the one-process embedded default."""

from __future__ import annotations

import time

from commerce_kernel.ratelimit import RateLimiter


class MemoryRateLimiter(RateLimiter):
    """Counters in a dict of this process, pruned when it grows large."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window: float) -> int | None:
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

    async def clear(self) -> None:
        self._windows.clear()
