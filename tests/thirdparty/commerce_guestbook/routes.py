"""The guestbook's HTTP endpoints and its WebSocket channel."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from commerce_guestbook import api
from commerce_guestbook.api import EntryOut
from commerce_kernel import Call, Kernel, api_route, customer, routes_from


class EntryIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


@api_route(
    "/api/guestbook/",
    "POST",
    guard=customer,
    body=EntryIn,
    response=EntryOut,
    status=201,
    summary="Sign the guestbook",
)
async def sign(call: Call) -> EntryOut:
    body: EntryIn = call.body
    return await api.sign(call.kernel, call.account_id, body.text)


@api_route("/api/guestbook/", response=list[EntryOut], summary="Read the guestbook")
async def read(call: Call) -> list[EntryOut]:
    async with call.kernel.db.session() as session:
        return await api.entries(session)


async def live(websocket: WebSocket) -> None:
    """Pushes `{"id", "words"}` whenever an entry has been counted, from any process."""
    kernel: Kernel = websocket.app.state.kernel
    await websocket.accept()
    async with kernel.pubsub.subscribe(api.CHANNEL) as sub:
        await websocket.send_json({"type": "ready"})

        async def push() -> None:
            async for message in sub:
                await websocket.send_json(message)

        pusher = asyncio.create_task(push())
        try:
            # Reading is how a disconnect is noticed; the pusher alone would wait forever.
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)


def all_routes() -> list[BaseRoute]:
    return [*routes_from(sign, read), WebSocketRoute("/ws/guestbook/", live)]
