"""What one hot request costs in-process, with every installed plugin, and where it goes.

    .venv/bin/python bench/request_cost.py [--calls 1000] [--backend sqlite|mariadb]
        [--only detail,browse,...] [--profile detail] [--drivers asyncmy,aiomysql]

Starts a kernel as `commerce serve` would (every installed plugin; on MariaDB with Redis for
the queue and pub/sub, tasks left queued for a worker that does not run here), a fresh SQLite
file or a fresh MariaDB database `request_cost_bench`, seeds 1,000
products and a signed-in customer, then drives the ASGI app directly (no socket, no HTTP
parser, no client: only what the project itself spends) one request after another, median
µs of 5 interleaved rounds. `--profile NAME` runs that request under cProfile afterwards and
prints the 30 functions with the most time of their own, and the 30 with the most inclusive
time (where the harness's ratios cannot say why, this can). `--drivers asyncmy,aiomysql`
times every request through one kernel per MySQL driver, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
from guard_bench import per_call_us

from commerce_kernel import CUSTOMER, Kernel, create_app
from commerce_kernel.db import create_engine, utcnow
from commerce_kernel.identity import create_account, token_states
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.settings import Settings


class Asgi:
    """One request at a time against the app, as a server would hand it over."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.auth = f"Bearer {token}".encode()

    async def __call__(
        self, method: str, path: str, body: Any = None, query: bytes = b"", auth: bool = False
    ) -> tuple[int, bytes]:
        raw = b"" if body is None else orjson.dumps(body)
        headers = [(b"host", b"localhost")]
        if raw:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(raw)),
            ]
        if auth:
            headers.append((b"authorization", self.auth))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 4242),
            "server": ("127.0.0.1", 8000),
            "app": self.app,
        }
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def settings_for(url: str, redis_url: str | None) -> Settings:
    return Settings(
        database_url=url,
        secret_key="bench" * 10,
        redis_url=redis_url,
        redis_prefix="request-cost-bench",
        email_to_log_allowed=True,
    )


async def run(
    url: str,
    redis_url: str | None,
    calls: int,
    only: list[str] | None,
    profile: str | None,
    drivers: list[str] | None = None,
    cpu: bool = False,
) -> None:
    kernel = Kernel.load(settings_for(url, redis_url))
    await upgrade(kernel)
    app = create_app(kernel=kernel)
    await kernel.start(run_cron=False)
    others: list[tuple[str, Kernel, Any]] = []
    try:
        from commerce_catalog.models import Product

        now = utcnow()
        async with kernel.db.transaction() as session:
            await session.execute(
                insert(Product),
                [
                    {
                        "sku": f"RC-{i:05d}",
                        "name": f"{'Steel' if i % 10 == 0 else 'Oak'} thing {i}",
                        "description": "A thing for the request-cost bench.",
                        "price": Decimal("10.00") + i,
                        "stock": 10**9,
                        "is_active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(1000)
                ],
            )
            shopper = await create_account(session, "shopper@example.com")
            token = (await kernel.tokens.issue(session, shopper.id, CUSTOMER)).access_token
        asgi = Asgi(app, token)
        _, body = await asgi("GET", "/api/products/", query=b"page_size=1")
        product_id = orjson.loads(body)["results"][0]["id"]
        await listening(kernel, asgi)
        assert (
            await asgi("POST", "/api/cart/", {"product_id": product_id, "quantity": 1}, auth=True)
        )[0] == 201
        requests = requests_of(asgi, product_id)
        chosen = [(n, f) for n, f in requests.items() if only is None or n in only]
        if drivers:
            # The same requests, on the same database, through a kernel per MySQL driver,
            # interleaved round by round, so the machine's drift moves both alike.
            chosen = []
            for driver in drivers:
                other_url = make_url(url).set(drivername=f"mysql+{driver}")
                other = Kernel.load(
                    settings_for(other_url.render_as_string(hide_password=False), redis_url)
                )
                other_app = create_app(kernel=other)
                await other.start(run_cron=False)
                others.append((driver, other, other_app))
                other_asgi = Asgi(other_app, token)
                await listening(other, other_asgi)
                chosen += [
                    (f"{n} [{driver}]", f)
                    for n, f in requests_of(other_asgi, product_id).items()
                    if only is None or n in only
                ]
            chosen.sort(key=lambda case: list(requests).index(case[0].split(" [")[0]))
        clock = time.process_time if cpu else time.perf_counter
        for label, us in await per_call_us(chosen, calls, clock=clock):
            print(f"  {label:14s} {us:9.1f} µs")
        if profile:
            fn = requests[profile]
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(calls):
                await fn()
            prof.disable()
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats(order).print_stats(30)
                print(out.getvalue())
    finally:
        for _, other, _ in others:
            await other.stop()
        if kernel.redis is not None:  # the jobs no worker took (mail, durable events)
            keys = [k async for k in kernel.redis.scan_iter("*request-cost-bench*")]
            if keys:
                await kernel.redis.delete(*keys)
        await kernel.stop()


async def listening(kernel: Kernel, asgi: Asgi) -> None:
    states = token_states(kernel)
    for _ in range(100):  # the token-state subscription starts on the first check
        await asgi("GET", "/api/cart/", auth=True)
        if states._listening:
            break
        await asyncio.sleep(0.01)


def requests_of(asgi: Asgi, product_id: int) -> dict[str, Callable[[], Awaitable[None]]]:
    async def expect(status: int, *args: Any, **kw: Any) -> None:
        got, body = await asgi(*args, **kw)
        assert got == status, (got, body[:300])

    item = {"items": [{"product_id": product_id, "quantity": 1}]}
    return {
        "health": lambda: expect(200, "GET", "/api/health/"),
        "detail": lambda: expect(200, "GET", f"/api/products/{product_id}/"),
        "browse": lambda: expect(200, "GET", "/api/products/"),
        "list": lambda: expect(200, "GET", "/api/products/", query=b"search=steel&ordering=-price"),
        "cart total": lambda: expect(200, "GET", "/api/cart/total/", auth=True),
        "cart add": lambda: expect(
            200, "POST", "/api/cart/", {"product_id": product_id, "quantity": 1}, auth=True
        ),
        "place order": lambda: expect(201, "POST", "/api/orders/", item, auth=True),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "mariadb"), default="mariadb")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="with MariaDB, as `commerce serve` runs (tasks queued for a worker, none runs "
        "here); `none` for the in-process queue, whose tasks then run inside the timings",
    )
    parser.add_argument("--only", help="comma-separated request names")
    parser.add_argument("--profile", help="the request to run under cProfile")
    parser.add_argument(
        "--drivers",
        help="MariaDB: comma-separated MySQL drivers (asyncmy,aiomysql) to time side by side, "
        "interleaved, each through its own kernel on the same database",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="count this process's CPU time per request, not wall time (the database's work "
        "and the wait for it left out: steadier on a shared machine)",
    )
    args = parser.parse_args()
    only = args.only.split(",") if args.only else None
    if args.backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="request-cost-")) / "bench.db"
        await run(f"sqlite:///{path}", None, args.calls, only, args.profile, cpu=args.cpu)
        return
    base = make_url(args.mysql_url)
    server = create_engine(base.set(database=None).render_as_string(hide_password=False))
    async with server.connect() as conn:
        await conn.execute(text("DROP DATABASE IF EXISTS request_cost_bench"))
        await conn.execute(text("CREATE DATABASE request_cost_bench CHARACTER SET utf8mb4"))
    try:
        url = base.set(database="request_cost_bench").render_as_string(hide_password=False)
        redis = None if args.redis_url == "none" else args.redis_url
        drivers = args.drivers.split(",") if args.drivers else None
        await run(url, redis, args.calls, only, args.profile, drivers, args.cpu)
    finally:
        async with server.connect() as conn:
            await conn.execute(text("DROP DATABASE IF EXISTS request_cost_bench"))
        await server.dispose()


if __name__ == "__main__":
    asyncio.run(main())
