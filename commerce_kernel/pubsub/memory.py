"""In-process pub/sub: enough for the one-process embedded default."""

from __future__ import annotations

from typing import Any

from commerce_kernel.pubsub import PubSub


class MemoryPubSub(PubSub):
    """Every subscriber in this process gets every message."""

    async def publish(self, channel: str, message: Any) -> None:
        self._fan_out(channel, message)
