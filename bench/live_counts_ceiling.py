"""The ceiling for the live_counts fan-out bench: a bare Starlette app that speaks the same
WebSocket protocol and, on `POST /api/orders/`, does nothing but broadcast the frame an order
would cause to every socket following the product, then answers 201.

    python bench/live_counts_ceiling.py --port PORT [--redis-url URL --channel NAME]

Same uvicorn settings as `commerce serve` (httptools, uvloop, `ws="websockets-sansio"`, no
access log). Without `--redis-url` (one process) the frame is sent straight to this process's
sockets after the 201 is written (a background task), one `send_text` per socket, no queue and
no task per client: pure fan-out cost. With it (two processes), the POST publishes the frame on
a Redis channel before answering and every process sends what it reads from the channel to
its own sockets: pure fan-out plus the one hop between processes any multi-process
deployment needs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def build_app(redis_url: str | None, channel: str) -> Starlette:
    followers: dict[int, set[WebSocket]] = {}
    sold: dict[int, int] = {}
    seq = itertools.count(int(time.time() * 1_000_000))
    state: dict[str, Any] = {}

    async def broadcast(product_id: int, frame: str, seq_of_frame: int) -> None:
        # Snapshots carry the last seq this process fanned out (with two processes the seq
        # comes from the one that took the order, not from this one's counter).
        state["last_seq"] = max(state.get("last_seq", 0), seq_of_frame)
        for ws in list(followers.get(product_id, ())):
            with contextlib.suppress(Exception):
                await ws.send_text(frame)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def place_order(request: Request) -> Response:
        body = await request.json()
        line = body["items"][0]
        product_id, quantity = int(line["product_id"]), int(line["quantity"])
        sold[product_id] = sold.get(product_id, 0) + quantity
        n = next(seq)
        frame = orjson.dumps(
            {"type": "sold_count", "product_id": product_id, "sold": sold[product_id], "seq": n}
        ).decode()
        if redis_url is None:
            task = BackgroundTask(broadcast, product_id, frame, n)
            return JSONResponse({"id": sold[product_id]}, status_code=201, background=task)
        await state["redis"].publish(channel, frame)
        return JSONResponse({"id": sold[product_id]}, status_code=201)

    async def live_counts(ws: WebSocket) -> None:
        await ws.accept()
        mine: set[int] = set()
        try:
            while True:
                message = orjson.loads(await ws.receive_text())
                ids = [int(i) for i in message.get("subscribe", ())]
                for i in ids:
                    followers.setdefault(i, set()).add(ws)
                mine.update(ids)
                counts = {str(i): sold.get(i, 0) for i in ids}
                snapshot = {"type": "snapshot", "counts": counts, "seq": state.get("last_seq", 0)}
                await ws.send_text(orjson.dumps(snapshot).decode())
        except WebSocketDisconnect:
            pass
        finally:
            for i in mine:
                followers.get(i, set()).discard(ws)

    async def relay() -> None:
        pubsub = state["redis"].pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        async for message in pubsub.listen():
            frame = message["data"].decode()
            data = orjson.loads(frame)
            await broadcast(data["product_id"], frame, data["seq"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if redis_url is None:
            yield
            return
        from redis.asyncio import Redis

        state["redis"] = Redis.from_url(redis_url)
        reader = asyncio.create_task(relay())
        try:
            yield
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await state["redis"].aclose()

    return Starlette(
        routes=[
            Route("/api/health/", health),
            Route("/api/orders/", place_order, methods=["POST"]),
            WebSocketRoute("/ws/live-counts/", live_counts),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--channel", default="bench-live-counts")
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.redis_url, args.channel),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
