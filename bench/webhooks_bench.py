"""Webhooks: deliveries per second with one and two `commerce worker`s, and the order path's
latency with 0 and 10 endpoints subscribed, on MariaDB + Redis.

    .venv/bin/python bench/webhooks_bench.py [--deliveries 1000] [--orders 200]

A receiver (a bare Starlette app on uvicorn, in this process) answers 200 to every POST.
Deliveries: `--deliveries` rows are fanned out to one endpoint with no worker running, then
the workers start; the rate is counted from the first arrival to the last. Order latency:
one `commerce serve` and one worker, `--orders` orders placed one at a time (so the latency is
the request path's own: the outbox INSERT of the durable listener is its only webhook cost;
the fan-out and the POSTs run in the worker). Needs BENCH_DATABASE_URL (default
mysql://root@127.0.0.1:3306/) and BENCH_REDIS_URL (default redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commerce_kernel import Kernel
from commerce_kernel.identity import CUSTOMER, create_account
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.plugins import load_plugins, with_requirements
from commerce_kernel.settings import Settings
from commerce_kernel.testing import (
    ServerProcess,
    create_test_database,
    deployment_env,
    free_port,
    serve_app,
    start_process,
)

PLUGINS = with_requirements(["webhooks"])


class Receiver:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.first = 0.0
        self.last = 0.0
        self.changed = asyncio.Event()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            await request.body()
            now = time.perf_counter()
            if not self.seen:
                self.first = now
            self.seen.add(request.headers["webhook-id"])
            self.last = now
            self.changed.set()
            return Response("ok")

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    async def wait_for(self, n: int, timeout: float = 300) -> None:
        async with asyncio.timeout(timeout):
            while len(self.seen) < n:
                self.changed.clear()
                await self.changed.wait()


async def _kernel(env: dict[str, str]) -> Kernel:
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    kernel = Kernel(settings, load_plugins(["kernel", *PLUGINS]), overrides=env)
    await kernel.start(run_cron=False)
    return kernel


async def _endpoints(kernel: Kernel, url: str, n: int) -> None:
    from commerce_webhooks import signing
    from commerce_webhooks.models import Delivery, Endpoint
    from sqlalchemy import delete

    async with kernel.db.transaction() as session:
        await session.execute(delete(Delivery))
        await session.execute(delete(Endpoint))
        session.add_all(
            Endpoint(
                url=url,
                description="bench",
                event_types=["order.placed"],
                enabled=True,
                secret=signing.new_secret(),
                disabled_reason="",
            )
            for _ in range(n)
        )


def _workers(env: dict[str, str], n: int) -> list[ServerProcess]:
    return [start_process(["worker"], env) for _ in range(n)]


async def deliveries_per_second(
    kernel: Kernel, env: dict[str, str], receiver: Receiver, url: str, total: int, workers: int
) -> float:
    from commerce_webhooks.delivery import fan_out

    await _endpoints(kernel, url, 1)
    receiver.seen.clear()
    tag = f"{workers}w{time.time_ns()}"
    for i in range(total):
        await fan_out(kernel, "order.placed", f"evt_bench{tag}_{i}", {"order": {"id": i}})
    procs = _workers(env, workers)
    try:
        await receiver.wait_for(total)
    finally:
        for p in procs:
            p.stop()
    return (total - 1) / (receiver.last - receiver.first)


async def order_latency(
    kernel: Kernel,
    env: dict[str, str],
    receiver: Receiver,
    url: str,
    endpoints: int,
    orders: int,
    token: str,
    product_id: int,
) -> tuple[float, float]:
    await _endpoints(kernel, url, endpoints)
    port = free_port()
    server = start_process(["serve", "--port", str(port)], env, port=port)
    procs = _workers(env, 1)
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            headers = {"Authorization": f"Bearer {token}"}
            body = {"items": [{"product_id": product_id, "quantity": 1}]}
            for i in range(orders + 20):
                t0 = time.perf_counter()
                r = await http.post(f"{server.url}/api/orders/", json=body, headers=headers)
                if i >= 20:  # the first ones warm the pools
                    latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 201, r.text
    finally:
        server.stop()
        for p in procs:
            p.stop()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


async def bench(args: argparse.Namespace) -> None:
    os.environ["COMMERCE_TEST_DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    database = await create_test_database(Path(tempfile.mkdtemp()))
    env = deployment_env(
        database.url,
        redis_url,
        {
            "COMMERCE_PLUGINS": ",".join(PLUGINS),
            "LOG_LEVEL": "WARNING",
            "WEBHOOKS_ALLOW_HTTP": "true",
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1",
        },
    )
    receiver = Receiver()
    try:
        async with serve_app(receiver.app()) as base:
            url = base + "/hook"
            settings = Settings(**{k.lower(): v for k, v in env.items()})
            await upgrade(Kernel(settings, load_plugins(["kernel", *PLUGINS])))
            kernel = await _kernel(env)
            try:
                from commerce_catalog.models import Product

                async with kernel.db.transaction() as session:
                    account = await create_account(session, "bench@bench.test")
                    await create_account(session, "admin@bench.test", is_admin=True)
                    product = Product(
                        sku="WB-1",
                        name="Bench",
                        description="",
                        price=Decimal("1.00"),
                        stock=10_000_000,
                        sold_count=0,
                        is_active=True,
                    )
                    session.add(product)
                token = kernel.tokens.access_token(account.id, CUSTOMER)[0]
                rates = {
                    n: await deliveries_per_second(kernel, env, receiver, url, args.deliveries, n)
                    for n in (1, 2)
                }
                latency = {
                    n: await order_latency(
                        kernel, env, receiver, url, n, args.orders, token, product.id
                    )
                    for n in (0, 10)
                }
            finally:
                await kernel.stop()
        print(f"\nwebhooks bench: MariaDB + Redis, {os.cpu_count()} CPUs\n")
        for n, rate in rates.items():
            print(f"deliveries/s, {n} worker{'s' if n > 1 else ''}: {rate:8.0f}")
        for n, (p50, p99) in latency.items():
            print(f"order latency, {n:2d} endpoints: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    finally:
        if database.drop is not None:
            await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=200)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
