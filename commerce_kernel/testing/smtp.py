"""A real SMTP server (aiosmtpd) for tests of mail delivery."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP


class SMTPSink:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives.
    `refuse(n)` makes it answer the next n messages with a temporary failure (451);
    `connections` counts the connections clients opened, `drop_connections()` hangs up on
    every open one (as a server does with a client idle too long)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refusals = 0
        self.attempts = 0
        self.port = 0
        self.connections = 0
        self._server: Any = None
        self._sessions: list[SMTP] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refusals > 0:
            self.refusals -= 1
            return "451 Try again later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def refuse(self, n: int) -> None:
        self.refusals = n

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _accept(self) -> SMTP:
        self.connections += 1
        self._sessions = [c for c in self._sessions if c.transport is not None]
        session = SMTP(self, hostname="localhost")
        self._sessions.append(session)
        return session

    def drop_connections(self) -> None:
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        self._sessions = []

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            await asyncio.sleep(0.05)
        return self.messages

    @property
    def settings(self) -> dict[str, str]:
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}
