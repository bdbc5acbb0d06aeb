"""One hub per server process: the open sockets, which products each follows, and the one
pub/sub subscription whose messages it fans out to them.

A message is encoded once and offered to each socket following its product; offering never
waits. Each socket has its own outbox drained by its own writer task, bounded by what it
follows (a product waiting to be sent holds only its latest figure), so a slow or stuck client
never holds up the others: it is closed when a frame cannot be sent within `send_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from commerce_kernel.pubsub import GAP
from commerce_live_counts import relay
from commerce_live_counts.settings import LiveCountsSettings

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from commerce_kernel import Kernel, Subscription

logger = logging.getLogger("commerce.live_counts")

# Close codes (RFC 6455 section 7.4.1).
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013

_MAX_HELD = 10_000

Update = tuple[int, str]
"""A product's version and its encoded `sold_count` frame."""


class Connection:
    """One socket: what it follows, the versions it has of each figure, what waits to be sent.

    What waits is one insertion-ordered outbox: a followed product's latest figure (a newer
    one replaces it and moves to the end, so figures leave in seq order and a product is
    never queued twice) and the snapshot and error frames, which are bounded by
    `send_queue`. The writer sends the outbox, then waits `min_interval` before sending
    figures again (snapshot and error frames do not wait)."""

    def __init__(self, websocket: WebSocket, settings: LiveCountsSettings) -> None:
        self.websocket = websocket
        self.settings = settings
        self.outbox: dict[int | tuple[str, int], str] = {}
        self.controls = 0
        """Snapshot and error frames in the outbox."""
        self.ready = asyncio.Event()
        self.versions: dict[int, int] = {}
        """Followed product -> the version of the figure the client has or is sent."""
        self.pending: dict[int, list[Update]] = {}
        """Products whose snapshot is being read: their updates wait here meanwhile."""
        self.ended = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._frames = 0
        self._tokens = float(settings.frame_burst)
        self._refilled = time.monotonic()

    # --- from the hub ------------------------------------------------------------------------

    def offer(self, product_id: int, version: int, frame: str) -> None:
        waiting = self.pending.get(product_id)
        if waiting is not None:
            waiting.append((version, frame))
        elif version > self.versions.get(product_id, version):
            self.versions[product_id] = version
            self._put(product_id, frame)

    def _put(self, key: int | tuple[str, int], frame: str) -> None:
        self.outbox.pop(key, None)
        self.outbox[key] = frame
        self.ready.set()

    def send(self, frame: str) -> None:
        """Queue a snapshot or error frame."""
        if self.controls >= self.settings.send_queue:
            self.end(
                POLICY_VIOLATION,
                f"Too slow: more than {self.settings.send_queue} frames were waiting.",
            )
            return
        self._frames += 1
        self.controls += 1
        self._put(("frame", self._frames), frame)

    def end(self, code: int | None = None, reason: str = "") -> None:
        if not self.ended.is_set():
            self.close_code, self.close_reason = code, reason
            self.ended.set()

    # --- from the socket's own tasks ---------------------------------------------------------

    def take_token(self) -> bool:
        """A client frame may be handled (token bucket: `frames_per_second`, `frame_burst`)."""
        now = time.monotonic()
        self._tokens = min(
            float(self.settings.frame_burst),
            self._tokens + (now - self._refilled) * self.settings.frames_per_second,
        )
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def error(self, detail: str) -> None:
        self.send(orjson.dumps({"type": "error", "detail": detail}).decode())

    def settle(self, product_id: int, version: int | None) -> None:
        """The snapshot of `product_id` was queued with `version` (None: not a known product,
        so not followed): queue what arrived meanwhile and is newer."""
        waiting = self.pending.pop(product_id, [])
        if version is None:
            self.versions.pop(product_id, None)
            return
        current = max(version, self.versions.get(product_id, -1))
        newest = None
        for newer, frame in waiting:
            if newer > current:
                current, newest = newer, frame
        self.versions[product_id] = current
        if newest is not None:
            self._put(product_id, newest)

    async def write(self) -> None:
        interval, timeout = self.settings.min_interval, self.settings.send_timeout
        sent_figures = -interval
        try:
            while True:
                await self.ready.wait()
                wait = sent_figures + interval - time.monotonic()
                if wait > 0 and not self.controls:
                    await asyncio.sleep(wait)  # figures meanwhile replace each other
                batch = list(self.outbox.items())
                self.outbox.clear()
                self.ready.clear()
                figures = False
                for key, frame in batch:
                    if isinstance(key, tuple):
                        self.controls -= 1
                    else:
                        figures = True
                    try:
                        await asyncio.wait_for(self.websocket.send_text(frame), timeout)
                    except TimeoutError:
                        self.end(
                            POLICY_VIOLATION,
                            f"Too slow: a frame waited more than {timeout:g} s to be sent.",
                        )
                        return
                if figures:
                    sent_figures = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.end()  # the client went away


class Hub:
    """The process's sockets and its one subscription to the live counts channel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.settings = kernel.section(LiveCountsSettings)
        self.connections: set[Connection] = set()
        self.followers: dict[int, set[Connection]] = {}
        self._subscription: contextlib.AbstractAsyncContextManager[Subscription] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._held: list[dict[str, Any]] | None = None
        """While catching up after a gap: the messages that arrived meanwhile, in order."""
        self._catching_up: asyncio.Task[None] | None = None
        self._again = False

    async def start(self) -> None:
        async with self._lock:
            if self._pump is not None:
                return
            self._subscription = self.kernel.pubsub.subscribe(relay.CHANNEL, gaps=True)
            sub = await self._subscription.__aenter__()
            self._pump = asyncio.create_task(self._run(sub), name="live_counts.hub")

    async def aclose(self) -> None:
        for conn in list(self.connections):
            conn.end(1001, "The server is going away.")
        for task in (self._pump, self._catching_up):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._pump = self._catching_up = None
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.__aexit__(None, None, None)
            self._subscription = None

    async def _run(self, sub: Subscription) -> None:
        async for message in sub:
            if message is GAP:
                self._gap()
            elif self._held is not None:
                self._held.append(message)
                if len(self._held) > _MAX_HELD:  # the next snapshot covers them
                    self._held.clear()
                    self._again = True
            else:
                self._dispatch_safely(message)

    def _dispatch_safely(self, message: dict[str, Any]) -> None:
        try:
            self.dispatch(message)
        except Exception:
            logger.exception("could not fan out a live count: %r", message)

    def _gap(self) -> None:
        """Figures may have been published and lost (pub/sub was away): hold what arrives,
        read every followed product's stored figure, offer those, then what was held."""
        if self._held is None:
            self._held = []
        self._again = True
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up(), name="live_counts.catch_up")

    async def _catch_up(self) -> None:
        pause = 0.5
        while self._again:
            self._again = False
            try:
                seq, counts = await relay.snapshot(self.kernel, list(self.followers))
            except Exception as exc:
                logger.warning("live counts could not catch up yet: %s", exc)
                self._again = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            # A stored figure includes every message up to `seq`; what was held and is newer
            # goes out after it, in seq order (older versions are dropped by each socket).
            held, self._held = self._held or [], []
            for product_id, count in counts.items():
                self._dispatch_safely({**count, "product_id": product_id, "seq": seq})
            for message in held:
                self._dispatch_safely(message)
        for message in self._held or []:
            self._dispatch_safely(message)
        self._held = None

    def dispatch(self, message: dict[str, Any]) -> None:
        """Offer one published figure to every socket following its product."""
        product_id = message["product_id"]
        followers = self.followers.get(product_id)
        if not followers:
            return
        frame = orjson.dumps(
            {
                "type": "sold_count",
                "product_id": product_id,
                "sold": message["sold"],
                "seq": message["seq"],
            }
        ).decode()
        version = message["version"]
        for conn in list(followers):
            conn.offer(product_id, version, frame)

    # --- sockets -----------------------------------------------------------------------------

    def admit(self, conn: Connection) -> bool:
        if len(self.connections) >= self.settings.max_connections:
            return False
        self.connections.add(conn)
        return True

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for product_id in list(conn.versions) + list(conn.pending):
            self.unfollow(conn, product_id)

    def follow(self, conn: Connection, product_id: int) -> None:
        self.followers.setdefault(product_id, set()).add(conn)

    def unfollow(self, conn: Connection, product_id: int) -> None:
        followers = self.followers.get(product_id)
        if followers is not None:
            followers.discard(conn)
            if not followers:
                del self.followers[product_id]


async def hub_of(kernel: Kernel) -> Hub:
    """This process's hub, started on first use and closed when the kernel stops."""
    hub = kernel.cached("live_counts.hub", lambda: Hub(kernel))
    await hub.start()
    return hub
