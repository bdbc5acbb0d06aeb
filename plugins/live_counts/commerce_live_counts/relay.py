"""Figures in and out: the catalog's committed sold counts published on the kernel's pub/sub,
and the snapshot a new subscriber starts from.

Every figure travels as a sequenced message on one channel (`PubSub.publish_versioned`): the
channel's sequence is the `seq` clients see, one per deployment, and the catalog's
`sold_version` is the message's version, so a late announcement of an older figure (two
orders of one product committed in one order and announced, by two processes, in the other)
is dropped instead of overwriting the newer one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from commerce_catalog.api import SoldCount, get_sold_counts

from commerce_kernel import Kernel
from commerce_kernel.pubsub import Versioned

CHANNEL = "live_counts"
_CHUNK = 1000
"""Ids per statement of a snapshot (the hub's catch-up reads every followed product)."""

logger = logging.getLogger("commerce.live_counts")


async def publish(kernel: Kernel, counts: Sequence[SoldCount] | Sequence[dict[str, Any]]) -> None:
    """After commit: publish each product's new figure to every process's sockets. Redis
    being away loses the announcement, never the order: sockets catch up on that product's
    next change, and a socket that subscribes again gets the stored figure."""
    messages = [
        Versioned(
            str(c["product_id"]),
            int(c["version"]),
            {
                "type": "sold_count",
                "product_id": int(c["product_id"]),
                "sold": int(c["sold"]),
                "version": int(c["version"]),
            },
        )
        for c in counts
    ]
    try:
        await kernel.pubsub.publish_versioned(CHANNEL, messages)
    except Exception as exc:
        logger.warning("could not publish %d live counts: %s", len(messages), exc)


def publish_soon(kernel: Kernel, counts: Sequence[SoldCount] | Sequence[dict[str, Any]]) -> None:
    """`publish` in a task of its own: the order's answer does not wait for it (nor for this
    process's sockets to be handed the frames)."""
    running: set[asyncio.Task[None]] = kernel.cached("live_counts.publishing", set)
    task = asyncio.create_task(publish(kernel, counts))
    running.add(task)  # a reference until it is done
    task.add_done_callback(running.discard)


async def snapshot(kernel: Kernel, ids: Iterable[int]) -> tuple[int, dict[int, SoldCount]]:
    """The sequence number, then the stored figures of the active products among `ids`: read
    in that order, every figure published with a seq up to it is in the counts."""
    seq = await kernel.pubsub.sequence(CHANNEL)
    wanted = list(ids)
    counts: dict[int, SoldCount] = {}
    async with kernel.db.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            counts.update(await get_sold_counts(session, wanted[start : start + _CHUNK]))
    return seq, counts
