"""Listeners for the live_counts fan-out bench: many WebSocket clients in one process, each
timing every frame it receives on the system-wide monotonic clock.

Run by `bench/live_counts_fanout.py` (one or several of these processes), never by hand:

    python bench/live_counts_clients.py --url ws://127.0.0.1:PORT/ws/live-counts/ \
        --clients 500 --subscribe 1,2 [--url ws://...second server...]

Clients are spread round-robin over the `--url`s. The process speaks JSON lines on
stdin/stdout: it prints `{"ready": ...}` once every client has its snapshot, then answers
`order URL PRODUCT TOKEN` (one unit, on a kept-alive connection: status, sent and answered
ns), `mark` (forget what was received so far), `dump` (every sold_count frame received since
the mark: client, product, sold, seq, arrival ns) and `quit`. Orders are placed from here
rather than from the bench process so that an order's 201 and the frames it causes are
stamped by the same event loop: across two processes sharing a core, the one that reads
later (the scheduler's choice) would add its wait to every figure.

A client is the sans-I/O `websockets.ClientProtocol` under a bare asyncio protocol, not the
`websockets` asyncio client: with a thousand sockets on one core the client's own parsing
would otherwise be most of the measured latency. Each read is stamped first
(`time.monotonic_ns()`, CLOCK_MONOTONIC, the same clock in every process) and parsed a moment
later (`call_soon`, after every socket that was readable in the same poll has been stamped),
so a frame's time is when its last byte was read from the socket, not when Python got round
to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any, cast

import h11
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class Stats:
    """What every client of this process saw since the last `mark`."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, int, int, int, int]] = []  # client, product, sold, seq, t_ns
        self.errors: Counter[str] = Counter()
        self.closed: Counter[int] = Counter()
        self.out_of_order = 0
        self.snapshots = 0

    def mark(self) -> None:
        self.frames = []
        self.errors.clear()
        self.closed.clear()
        self.out_of_order = 0


class Listener(asyncio.Protocol):
    """One WebSocket client: handshake, one subscribe frame, then stamp every frame."""

    def __init__(self, index: int, url: str, subscribe: list[int], stats: Stats) -> None:
        self.index = index
        self.ws = ClientProtocol(parse_uri(url), max_size=2**20)
        self.subscribe = subscribe
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.pending: list[tuple[int, bytes]] = []
        self.last_seq: dict[int, int] = {}
        self.snapshot: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self._process)
        self.pending.append((time.monotonic_ns(), data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.ws.receive_eof()
        code = self.ws.close_code if self.ws.close_code is not None else 1006
        self.stats.closed[code] += 1
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"closed {code} before the snapshot"))
        if not self.lost.done():
            self.lost.set_result(None)

    def _flush(self) -> None:
        out = self.ws.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def _process(self) -> None:
        pending, self.pending = self.pending, []
        for t, data in pending:
            self.ws.receive_data(data)
            for event in self.ws.events_received():
                if isinstance(event, Response):
                    if self.ws.handshake_exc is not None:
                        self.snapshot.set_exception(self.ws.handshake_exc)
                    else:
                        body = json.dumps({"subscribe": self.subscribe}).encode()
                        self.ws.send_text(body)
                elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self._frame(t, json.loads(bytes(event.data)))
        self._flush()  # the subscribe frame, pongs, the close handshake

    def _frame(self, t: int, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "sold_count":
            product, seq = frame["product_id"], frame["seq"]
            if seq <= self.last_seq.get(product, -1):
                self.stats.out_of_order += 1
            self.last_seq[product] = seq
            self.stats.frames.append((self.index, product, frame["sold"], seq, t))
        elif kind == "snapshot":
            for key in frame["counts"]:
                self.last_seq[int(key)] = frame["seq"]
            self.stats.snapshots += 1
            if not self.snapshot.done():
                self.snapshot.set_result(frame)
        else:
            self.stats.errors[str(frame.get("detail", frame))[:80]] += 1

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.ws.send_close(1000)
            self._flush()


class Buyer(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection placing orders, its responses stamped like frames
    (on read, same clock, same event loop as the listeners of this process)."""

    def __init__(self) -> None:
        self.http = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[tuple[int, int, bytes]] | None = None
        self.status = 0
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        t = time.monotonic_ns()
        self.http.receive_data(data)
        while (event := self.http.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Response):
                self.status, self.body = event.status_code, b""
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.http.start_next_cycle()
                if self.answer is not None and not self.answer.done():
                    self.answer.set_result((self.status, t, self.body))
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("order connection lost"))

    async def post(self, host: str, path: str, token: str, body: bytes) -> dict[str, Any]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        headers = [
            ("Host", host),
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]
        out = self.http.send(h11.Request(method="POST", target=path, headers=headers))
        out = (out or b"") + (self.http.send(h11.Data(data=body)) or b"")
        out += self.http.send(h11.EndOfMessage()) or b""
        sent = time.monotonic_ns()
        self.transport.write(out)
        status, answered, answer = await asyncio.wait_for(self.answer, 60)
        return {"status": status, "sent": sent, "answered": answered, "body": answer[:200].decode()}


async def place_order(
    buyers: dict[str, Buyer], url: str, product: int, token: str
) -> dict[str, Any]:
    """`POST {url}/api/orders/` for one unit of `product`, on a kept-alive connection."""
    if url not in buyers:
        host, port = url.removeprefix("http://").split(":")
        _, buyers[url] = await asyncio.get_running_loop().create_connection(Buyer, host, int(port))
    body = json.dumps({"items": [{"product_id": product, "quantity": 1}]}).encode()
    return await buyers[url].post(url.removeprefix("http://"), "/api/orders/", token, body)


async def connect_all(
    urls: list[str], clients: int, offset: int, subscribe_of: Any, stats: Stats, parallel: int = 50
) -> list[Listener]:
    """`clients` listeners, `parallel` handshakes at a time, each waiting for its snapshot."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> Listener:
        url = urls[i % len(urls)]
        uri = parse_uri(url)
        async with gate:
            for attempt in range(5):
                _, listener = await loop.create_connection(
                    lambda: Listener(offset + i, url, subscribe_of(i), stats), uri.host, uri.port
                )
                try:
                    await asyncio.wait_for(asyncio.shield(listener.snapshot), 30)
                    return listener
                except ConnectionError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    return list(await asyncio.gather(*(one(i) for i in range(clients))))


async def serve(args: argparse.Namespace) -> None:
    stats = Stats()
    products = [int(p) for p in args.subscribe.split(",")]
    offset = args.offset

    def subscribe_of(i: int) -> list[int]:
        # --spread: client i follows one product; otherwise every client follows them all.
        return [products[(i + offset) % len(products)]] if args.spread else products

    start = time.monotonic()
    listeners = await connect_all(args.url, args.clients, offset, subscribe_of, stats)
    emit({"ready": len(listeners), "connect_s": round(time.monotonic() - start, 2)})
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    buyers: dict[str, Buyer] = {}
    while line := (await reader.readline()).decode().strip():
        if line.startswith("order "):
            _, url, product, token = line.split()
            emit(await place_order(buyers, url, int(product), token))
        elif line == "mark":
            stats.mark()
            emit({"marked": True})
        elif line == "dump":
            emit(
                {
                    "frames": stats.frames,
                    "errors": dict(stats.errors),
                    "closed": {str(k): v for k, v in stats.closed.items()},
                    "out_of_order": stats.out_of_order,
                    "open": sum(1 for c in listeners if not c.lost.done()),
                }
            )
        elif line == "quit":
            break
    for c in listeners:
        c.close()
    if still_open := [c.lost for c in listeners if not c.lost.done()]:
        await asyncio.wait(still_open, timeout=5)


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--subscribe", required=True, help="comma-separated product ids")
    parser.add_argument("--spread", action="store_true", help="one product per client")
    parser.add_argument("--offset", type=int, default=0, help="first client's index (--spread)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
