"""Publish/subscribe on named channels: every subscriber gets every message (a broadcast).

One interface, two backends: `pubsub.memory.MemoryPubSub` (one process) and
`pubsub.redis.RedisPubSub` (every process of the deployment).

A channel can also carry *sequenced* messages (`publish_versioned`): each gets the next number
of the channel's one deployment-wide sequence in its `"seq"` field, atomically with its
publication, so every subscriber receives them in seq order; and each names a key (a product)
and a version of it, and a message older than one already published for that key is dropped.
`sequence(channel)` reads the sequence: a state read after it includes every message up to
it, which is how a snapshot and the updates after it fit together. Sequences start near the
current time in microseconds (so they keep growing across a restart of Redis or of the
process that holds them) and stay exact in a JSON number (below 2**53) for centuries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Versioned:
    """A message for `publish_versioned`: the state of `key` at `version`."""

    key: str
    version: int
    message: dict[str, Any]


class Gap:
    """What a subscription that asked for them (`subscribe(channel, gaps=True)`) receives in
    place of messages that may have been lost: the connection to the broker was lost and made
    again (nothing published meanwhile reached this process), or the subscriber fell more than
    its queue behind. Everything after it arrives as usual. A subscriber that keeps state from
    the messages reads it again from where it is stored. Compare with `is GAP`."""

    def __repr__(self) -> str:
        return "GAP"


GAP = Gap()


def sequence_start() -> int:
    """Where a new sequence starts: now, in microseconds since the epoch."""
    return time.time_ns() // 1000


class Subscription:
    """Messages of one channel for one subscriber, in order. Iterate it. With `gaps`, a `GAP`
    stands where messages may have been lost (before it)."""

    def __init__(self, channel: str, maxsize: int = 1000, *, gaps: bool = False) -> None:
        self.channel = channel
        self.gaps = gaps
        self.queue: asyncio.Queue[Any] = asyncio.Queue(max(maxsize, 2))
        self._gaps_queued = 0

    def deliver(self, message: Any) -> None:
        if self.queue.full():
            # A subscriber that cannot keep up loses the oldest message, never blocks others.
            self._drop_oldest()
            if self.gaps and not self._gaps_queued:
                self._drop_oldest()
                self._put_gap()
        self.queue.put_nowait(message)

    def gap(self) -> None:
        """Messages may have been lost here (a subscriber without `gaps` is not told)."""
        if self.gaps:
            if self.queue.full():
                self._drop_oldest()
            self._put_gap()

    def _put_gap(self) -> None:
        self.queue.put_nowait(GAP)
        self._gaps_queued += 1

    def _drop_oldest(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            self._taken(self.queue.get_nowait())

    def _taken(self, message: Any) -> Any:
        if message is GAP:
            self._gaps_queued -= 1
        return message

    async def get(self) -> Any:
        return self._taken(await self.queue.get())

    def get_nowait(self) -> Any:
        """The next message already delivered; `asyncio.QueueEmpty` when there is none (to
        apply what has arrived before answering from state that it may have changed)."""
        return self._taken(self.queue.get_nowait())

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while True:
            yield await self.get()


class PubSub:
    """`await kernel.pubsub.publish(channel, data)`; `async with kernel.pubsub.subscribe(channel)
    as sub: data = await sub.get()`. Messages are JSON-compatible values.

    Delivery is at most once: a message published while this process's connection to the
    broker is down never arrives. `subscribe(channel, gaps=True)` is told where that may have
    happened (a `GAP` in the stream), to read again what the lost messages would have changed.

    The base fans messages out to this process's subscribers; a backend that spans processes
    overrides `publish` and the `_listen`/`_unlisten` pair, calls `_fan_out` on arrival and
    `_gap` after it subscribed again to a channel it had lost.
    """

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subs.clear()

    async def publish(self, channel: str, message: Any) -> None:
        raise NotImplementedError

    async def publish_versioned(
        self, channel: str, messages: Sequence[Versioned]
    ) -> list[int | None]:
        """Publish each message (a dict without `"seq"`) with the channel's next sequence
        number in `"seq"`, unless a message with the same key and this version or a higher
        one was published before (then it is dropped: None). Returns the seq given to each."""
        raise NotImplementedError

    async def sequence(self, channel: str) -> int:
        """The channel's latest sequence number (`publish_versioned`)."""
        raise NotImplementedError

    async def forget_versions(self) -> None:
        """Forget every key's latest version (the sequences keep growing): for a database
        that was emptied, whose ids and versions start again (the test kit, between tests)."""
        raise NotImplementedError

    def _fan_out(self, channel: str, message: Any) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(message)

    def _gap(self, channel: str) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub.gap()

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, *, gaps: bool = False) -> AsyncIterator[Subscription]:
        """This process's subscription to `channel` while the block runs; with `gaps`, a `GAP`
        marks where messages may have been lost (see the class)."""
        sub = Subscription(channel, gaps=gaps)
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

    def listening(self, channel: str) -> bool:
        """Whether this process hears what is published on `channel` right now: subscribed,
        and the connection to the broker is up (confirmed by it). While False, messages are
        being lost (a subscriber with `gaps` gets a `GAP` once they are heard again)."""
        return channel in self._subs

    async def ping(self) -> None:
        return None


__all__ = ["GAP", "Gap", "PubSub", "Subscription", "Versioned", "sequence_start"]
