"""`WS /ws/live-counts/` and `GET /api/products/{id}/sold_count/`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from commerce_catalog.api import get_sold_counts
from starlette.routing import BaseRoute
from starlette.websockets import WebSocket

from commerce_kernel import NotFound, public
from commerce_kernel.routing import Call, Link, api_route, routes_from, websocket_route
from commerce_live_counts import relay
from commerce_live_counts.hub import (
    MESSAGE_TOO_BIG,
    TRY_AGAIN_LATER,
    Connection,
    Hub,
    hub_of,
)
from commerce_live_counts.schemas import (
    ErrorFrame,
    LiveCountsRequest,
    SnapshotFrame,
    SoldCountFrame,
    SoldCountOut,
)
from commerce_live_counts.settings import LiveCountsSettings

logger = logging.getLogger("commerce.live_counts")

TAGS = ["live_counts"]
_MAX_ID = 2**63 - 1
_ACTIONS = ("subscribe", "unsubscribe")
_USAGE = 'Send {"subscribe": [product ids]} or {"unsubscribe": [product ids]}.'


@api_route(
    "/api/products/{id:int}/sold_count/",
    guard=public,
    response=SoldCountOut,
    summary="Units sold of one product",
    tags=TAGS,
    responses={404: "No such product (or inactive, for non-admins)"},
    links=[Link(source="create_product", parameters={"id": "$response.body#/id"})],
)
async def sold_count(call: Call) -> SoldCountOut:
    """The figure `WS /ws/live-counts/` pushes: units of placed orders minus cancelled ones."""
    product_id = call.path["id"]
    async with call.kernel.db.session() as session:
        found = await get_sold_counts(session, [product_id], include_inactive=call.is_admin)
    if product_id not in found:
        raise NotFound(f"Product {product_id} does not exist.")
    return SoldCountOut(product_id=product_id, sold=found[product_id]["sold"])


def _ids(value: Any, action: str) -> list[int] | str:
    """The product ids of one action, or what is wrong with them."""
    if not isinstance(value, list) or not all(
        type(item) is int and 0 < item <= _MAX_ID for item in value
    ):
        return f'"{action}" must be a list of product ids (positive integers).'
    return list(dict.fromkeys(value))


async def live_counts(websocket: WebSocket) -> None:
    """Live units sold per product, public. Send `{"subscribe": [ids]}` to follow products:
    the answer is a `snapshot` frame `{"type": "snapshot", "counts": {"<id>": sold}, "seq": n}`
    with the known ones (unknown ids are ignored), then a `sold_count` frame
    `{"type": "sold_count", "product_id", "sold", "seq"}` each time an order places or
    cancels units of one of them, from any server process. `seq` is one sequence per
    deployment that grows with every change: an update whose seq is not above the snapshot's
    is already in it (the server sends none), and a product's updates arrive in seq order.
    `{"unsubscribe": [ids]}` stops following. A frame that is not JSON, not an object or
    names no known action gets `{"type": "error", "detail"}` and the socket stays open.

    A figure is sent at once; figures of one product that pile up behind a busy socket are
    merged into its latest (a figure a newer one replaced is not sent: the newer one includes
    its change). `LIVE_COUNTS_MIN_INTERVAL` (default 0) spaces a socket's sends out further.

    Limits (settings `LIVE_COUNTS_*`): frames over `MAX_FRAME_BYTES` (16 KiB) close the socket
    with 1009; more than `FRAMES_PER_SECOND` (10, burst 30) frames a second are answered with
    an error frame and ignored; at most `MAX_SUBSCRIPTIONS` (1000) products per socket; a
    client that reads nothing is closed with 1008 once a frame has waited `SEND_TIMEOUT`
    (10 s) or `SEND_QUEUE` (256) snapshot and error frames are waiting; a server process with
    `MAX_CONNECTIONS` (10,000) sockets closes new ones with 1013."""
    kernel = websocket.app.state.kernel
    settings = kernel.section(LiveCountsSettings)
    hub = await hub_of(kernel)
    await websocket.accept()
    conn = Connection(websocket, settings)
    if not hub.admit(conn):
        await websocket.close(TRY_AGAIN_LATER, "Too many connections; try again later.")
        return
    tasks = [
        asyncio.create_task(conn.write()),
        asyncio.create_task(_read(hub, conn)),
    ]
    try:
        await conn.ended.wait()
    finally:
        hub.remove(conn)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if conn.close_code is not None:
        # Queued frames are dropped: the close frame goes out next (or not at all, for a
        # client that reads nothing; the server stops waiting for it after ten seconds).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(conn.close_code, conn.close_reason), 10)


async def _read(hub: Hub, conn: Connection) -> None:
    websocket, settings = conn.websocket, conn.settings
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw_bytes = message.get("bytes") or b""
                size = len(raw_bytes)
            else:
                size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
            if size > settings.max_frame_bytes:
                conn.end(MESSAGE_TOO_BIG, f"Frames are at most {settings.max_frame_bytes} bytes.")
                return
            if not conn.take_token():
                conn.error(
                    f"Too many frames: at most {settings.frames_per_second:g} a second; "
                    "this one was ignored."
                )
                continue
            if raw is None:
                conn.error("Frames are JSON text, not binary. " + _USAGE)
                continue
            await _handle(hub, conn, raw)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("live counts socket failed")
    finally:
        conn.end()


async def _handle(hub: Hub, conn: Connection, raw: str) -> None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        conn.error("The frame is not valid JSON. " + _USAGE)
        return
    if not isinstance(data, dict):
        conn.error("A frame is a JSON object. " + _USAGE)
        return
    unknown = sorted(k for k in data if k not in _ACTIONS)
    if unknown or not data:
        named = f"Unknown action {', '.join(map(repr, unknown))}. " if unknown else ""
        conn.error(named + _USAGE)
        return
    parsed: dict[str, list[int]] = {}
    for action in _ACTIONS:
        if action in data:
            ids = _ids(data[action], action)
            if isinstance(ids, str):
                conn.error(ids)
                return
            parsed[action] = ids
    for product_id in parsed.get("unsubscribe", ()):
        conn.versions.pop(product_id, None)
        hub.unfollow(conn, product_id)
    wanted = parsed.get("subscribe")
    if wanted is None:
        return
    limit = conn.settings.max_subscriptions
    if len(set(conn.versions) | set(wanted)) > limit:
        conn.error(f"At most {limit} products per socket: unsubscribe from some first.")
        return
    await _subscribe(hub, conn, wanted)


async def _subscribe(hub: Hub, conn: Connection, ids: list[int]) -> None:
    """Follow first (updates for these products wait in `pending`), then read the snapshot,
    send it, and let through what arrived meanwhile and is newer than it."""
    for product_id in ids:
        conn.pending[product_id] = []
        hub.follow(conn, product_id)
    try:
        seq, counts = await relay.snapshot(hub.kernel, ids)
    except Exception as exc:
        logger.warning("live counts snapshot failed: %s", exc)
        for product_id in ids:
            conn.pending.pop(product_id, None)
            if product_id not in conn.versions:
                hub.unfollow(conn, product_id)
        conn.error("The counts are unavailable right now; subscribe again in a moment.")
        return
    frame = {"type": "snapshot", "counts": {str(p): c["sold"] for p, c in counts.items()}}
    conn.send(orjson.dumps({**frame, "seq": seq}).decode())
    for product_id in ids:
        known = counts.get(product_id)
        conn.settle(product_id, None if known is None else known["version"])
        if known is None:
            hub.unfollow(conn, product_id)


def routes() -> list[BaseRoute]:
    return [
        *routes_from(sold_count),
        websocket_route(
            "/ws/live-counts/",
            live_counts,
            summary="Live units sold per product (subscribe, snapshot, pushed updates)",
            receives=[LiveCountsRequest],
            sends=[SnapshotFrame, SoldCountFrame, ErrorFrame],
            tags=TAGS,
        ),
    ]
