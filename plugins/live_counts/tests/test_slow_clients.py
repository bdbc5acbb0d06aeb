"""A client that reads nothing is closed, with a close code and reason, while the others keep
receiving. Sends are not spaced out here (`LIVE_COUNTS_MIN_INTERVAL=0`), so the stuck
client's buffers fill in a moment, and a frame may wait one second (`SEND_TIMEOUT=1`)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from decimal import Decimal
from typing import Any

import pytest
from commerce_catalog.api import Product
from commerce_live_counts.hub import hub_of
from commerce_live_counts.relay import CHANNEL
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from commerce_kernel.pubsub import Versioned


@pytest.fixture(scope="module")
def commerce_settings() -> dict[str, str]:
    return {"LIVE_COUNTS_MIN_INTERVAL": "0", "LIVE_COUNTS_SEND_TIMEOUT": "1"}


def _frame(product_id: int, sold: int) -> dict[str, Any]:
    return {"type": "sold_count", "product_id": product_id, "sold": sold, "version": sold}


async def _subscribe(ws: Any, ids: list[int]) -> None:
    await ws.send(json.dumps({"subscribe": ids}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"


async def _products(kernel: Any, n: int) -> list[int]:
    async with kernel.db.transaction() as session:
        rows = [
            Product(sku=f"SLOW-{i}", name=f"Slow {i}", description="", price=Decimal("1.00"))
            for i in range(n)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_a_stuck_client_is_closed_while_a_fast_one_keeps_receiving(live_server, kernel):
    followed = await _products(kernel, 1000)
    fast_product = followed[0]
    url = live_server.replace("http://", "ws://") + "/ws/live-counts/"
    # A client that reads nothing: a tiny receive buffer, and its library stops reading
    # from the socket once one frame is waiting. Without compression, so each round's
    # figures take their full size in the server's buffers (compressed, a round of nearly
    # identical frames is ~2 kB, and filling the kernel's 4 MB send buffer took longer than
    # the loop on a slow machine).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live_server.rsplit(":", 1)[1])))
    async with (
        connect(url, sock=sock, max_queue=1, compression=None) as stuck,
        connect(url) as fast,
    ):
        await _subscribe(stuck, followed)
        await _subscribe(fast, [fast_product])
        hub = await hub_of(kernel)
        before = len(hub.connections)
        # Each round: 1,000 new figures (~70 kB) for the stuck one. Here ~230 rounds fill the
        # buffers (the kernel's grow to a few MB); the bound is time, not rounds, so a slow
        # machine gets as long as it needs.
        deadline = time.monotonic() + 120
        version = 0
        while time.monotonic() < deadline:
            version += 1
            await kernel.pubsub.publish_versioned(
                CHANNEL, [Versioned(str(p), version, _frame(p, version)) for p in followed]
            )
            got = json.loads(await asyncio.wait_for(fast.recv(), 5))  # the fast one hears it
            assert (got["product_id"], got["sold"]) == (fast_product, version)
            if len(hub.connections) < before:
                break
            await asyncio.sleep(0.01)
        assert len(hub.connections) == before - 1, "the stuck client was never dropped"
        # Reading at last, it finds the frames already on their way, then the close frame.
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(stuck.recv(), 10)
        assert stuck.close_code == 1008, stuck.close_code
        assert "Too slow" in (stuck.close_reason or "")
