"""The guestbook's middleware: every HTTP answer carries `X-Guestbook: 1`."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StampMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-guestbook", b"1")]}
            await send(message)

        await self.app(scope, receive, stamped)
