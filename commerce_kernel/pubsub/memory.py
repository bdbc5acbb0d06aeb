"""In-process pub/sub: enough for the one-process embedded default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from commerce_kernel.pubsub import PubSub, Versioned, sequence_start


class MemoryPubSub(PubSub):
    """Every subscriber in this process gets every message."""

    def __init__(self) -> None:
        super().__init__()
        self._seq: dict[str, int] = {}
        self._versions: dict[str, dict[str, int]] = {}

    async def publish(self, channel: str, message: Any) -> None:
        self._fan_out(channel, message)

    async def publish_versioned(
        self, channel: str, messages: Sequence[Versioned]
    ) -> list[int | None]:
        # No await in here: check, number and fan out happen as one step of the event loop.
        versions = self._versions.setdefault(channel, {})
        out: list[int | None] = []
        for item in messages:
            if item.version <= versions.get(item.key, -1):
                out.append(None)
                continue
            versions[item.key] = item.version
            seq = self._seq.get(channel) or sequence_start()
            seq += 1
            self._seq[channel] = seq
            self._fan_out(channel, {**item.message, "seq": seq})
            out.append(seq)
        return out

    async def sequence(self, channel: str) -> int:
        return self._seq.setdefault(channel, sequence_start())

    async def forget_versions(self) -> None:
        self._versions.clear()
