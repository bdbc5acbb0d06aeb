"""Checkout throughput: orders placed per second by concurrent buyers against two `commerce
serve` processes on MariaDB + Redis, next to a reference (GET /api/health/) in the same run.

    .venv/bin/python bench/checkout_bench.py [--orders 2000] [--concurrency 64]

Needs the orders plugin installed and MariaDB + Redis (BENCH_DATABASE_URL, default
mysql://root@127.0.0.1:3306/; BENCH_REDIS_URL, default redis://127.0.0.1:6379/14). A fresh
database is created and dropped. The load generator runs on the same machine as the servers
and the database, so absolute figures are a floor; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

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
    start_process,
)

PLUGINS = with_requirements(["orders"])


async def _setup(
    env: dict[str, str], customers: int, products: int, stock: int, sellout_stock: int
) -> tuple[list[str], list[int]]:
    """Accounts with tokens, `products` products with `stock` each, and a last product with
    only `sellout_stock` units."""
    from commerce_catalog.models import Product

    settings = Settings(**{k.lower(): v for k, v in env.items()})
    kernel = Kernel(settings, load_plugins(["kernel", *PLUGINS]))
    await upgrade(kernel)
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"b{i}@bench.test") for i in range(customers)]
        items = [
            Product(
                sku=f"B-{i}",
                name=f"Bench product {i}",
                description="",
                price=Decimal("9.99"),
                stock=stock,
                sold_count=0,
                is_active=True,
            )
            for i in range(products + 1)
        ]
        items[-1].stock = sellout_stock
        session.add_all(items)
    tokens = [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]
    ids = [p.id for p in items]
    await kernel.db.dispose()
    return tokens, ids


async def _run(
    total: int, concurrency: int, request: Callable[[int], Awaitable[httpx.Response]]
) -> dict[str, Any]:
    """`total` requests, `concurrency` at a time; rate, latency percentiles, status counts."""
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            r = await request(i)
            latencies.append(time.perf_counter() - t0)
            codes[r.status_code] += 1

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rate": total / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "codes": dict(codes),
    }


async def bench(args: argparse.Namespace) -> None:
    os.environ["COMMERCE_TEST_DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    database = await create_test_database(Path(tempfile.mkdtemp()))
    env = deployment_env(
        database.url,
        redis_url,
        {"COMMERCE_PLUGINS": ",".join(PLUGINS), "LOG_LEVEL": "WARNING"},
    )
    servers: list[ServerProcess] = []
    try:
        tokens, ids = await _setup(
            env, args.orders, args.products, args.orders * 2, args.orders // 8
        )
        products, sellout = ids[:-1], ids[-1]

        for _ in range(2):
            port = free_port()
            servers.append(start_process(["serve", "--port", str(port)], env, port=port))
        urls = [s.url for s in servers]
        # Idle connections expire before uvicorn's 5 s keep-alive does: reusing one the server
        # is closing is a ReadError, and an order POST must not be blindly retried.
        limits = httpx.Limits(max_connections=args.concurrency, keepalive_expiry=2.0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:

            def order(product_of: Callable[[int], int], key: bool = False) -> Any:
                def send(i: int) -> Awaitable[httpx.Response]:
                    headers = {"Authorization": f"Bearer {tokens[i]}"}
                    if key:
                        headers["Idempotency-Key"] = f"bench-{i}"
                    body = {"items": [{"product_id": product_of(i), "quantity": 1}]}
                    return http.post(f"{urls[i % 2]}/api/orders/", json=body, headers=headers)

                return send

            # Warm up client connections, both processes and their database pools.
            await _run(200, args.concurrency, lambda i: http.get(f"{urls[i % 2]}/api/health/"))
            await _run(200, args.concurrency, order(lambda i: products[i % len(products)]))
            results = {
                "GET /api/health/ (reference)": await _run(
                    args.orders * 2,
                    args.concurrency,
                    lambda i: http.get(f"{urls[i % 2]}/api/health/"),
                ),
                f"POST /api/orders/ spread over {args.products} products": await _run(
                    args.orders // 2,
                    args.concurrency,
                    order(lambda i: products[i % len(products)]),
                ),
                "POST /api/orders/ one hot product": await _run(
                    args.orders // 2,
                    args.concurrency,
                    order(lambda i: products[0]),
                ),
                "POST /api/orders/ spread, with Idempotency-Key": await _run(
                    args.orders // 2,
                    args.concurrency,
                    order(lambda i: products[i % len(products)], key=True),
                ),
                f"POST /api/orders/ sell-out ({args.orders // 8} units, {args.orders // 2} buyers)": await _run(
                    args.orders // 2,
                    args.concurrency,
                    order(lambda i: sellout),
                ),
            }
        ref = results["GET /api/health/ (reference)"]["rate"]
        print(
            f"\ncheckout bench: 2 x `commerce serve`, MariaDB + Redis, "
            f"concurrency {args.concurrency}, {os.cpu_count()} CPUs\n"
        )
        print(f"{'case':<52} {'req/s':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
        for name, r in results.items():
            print(
                f"{name:<52} {r['rate']:8.0f} {r['rate'] / ref:7.3f} {r['p50']:8.1f} "
                f"{r['p99']:8.1f}  {r['codes']}"
            )
    finally:
        for s in servers:
            s.stop()
            if args.verbose:
                print(s.output(), file=sys.stderr)
            s.log.unlink(missing_ok=True)
        if database.drop is not None:
            await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--orders", type=int, default=2000, help="2x the requests of each order case"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--verbose", action="store_true", help="print the servers' logs")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
