"""What the connection pool adds to a MariaDB request: SQLAlchemy's defaults (a ping on every
checkout, a ROLLBACK on every hand-back even after the session's own rollback or commit)
against the kernel's (`_ping_if_idle`: a ping only for a connection idle over a second;
`_rollback_if_open`: a ROLLBACK only if the server reports a transaction still open).

    .venv/bin/python bench/pool_reset_bench.py [--calls 2000]

A fresh MariaDB database `pool_bench` with one table; per call, as the handlers do: a read
session (one primary-key SELECT, the product detail's shape) and a write transaction (one
UPDATE, committed). Median µs per call of 5 interleaved rounds, and the driver calls each
makes (counted on aiomysql's connection: ping, COM_QUERY for statements, rollback, commit).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiomysql.connection import Connection
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.pool.base import reset_rollback

from commerce_kernel.db import create_engine

SERVER = "mysql://root@127.0.0.1:3306/"
calls_seen: collections.Counter[str] = collections.Counter()


def count_driver_calls() -> None:
    for name in ("ping", "rollback", "commit", "query"):
        original = getattr(Connection, name)

        def wrap(original: Any, name: str) -> Any:
            async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls_seen[name] += 1
                return await original(self, *args, **kwargs)

            return counted

        setattr(Connection, name, wrap(original, name))


def event_listeners(pool: Any) -> list[tuple[str, Any]]:
    return [
        (name, fn)
        for name in ("reset", "checkin", "checkout")
        for fn in list(getattr(pool.dispatch, name))
    ]


def engines() -> dict[str, AsyncEngine]:
    kernel_reset = create_engine(SERVER + "pool_bench")
    pool_reset = create_engine(SERVER + "pool_bench")
    pool = pool_reset.sync_engine.pool
    for name, fn in event_listeners(pool):
        event.remove(pool, name, fn)
    pool._reset_on_return = reset_rollback  # SQLAlchemy's defaults: a rollback on return,
    pool._pre_ping = True  # and a ping on every checkout
    return {"SQLAlchemy's pool (before)": pool_reset, "the kernel's pool (after)": kernel_reset}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    admin = create_engine(SERVER)
    async with admin.begin() as conn:
        await conn.execute(text("DROP DATABASE IF EXISTS pool_bench"))
        await conn.execute(text("CREATE DATABASE pool_bench"))
        await conn.execute(text("CREATE TABLE pool_bench.t (id INT PRIMARY KEY, n INT)"))
        await conn.execute(text("INSERT INTO pool_bench.t VALUES (1, 0)"))
    count_driver_calls()
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    made = engines()
    for label, engine in made.items():
        sessions = async_sessionmaker(engine)

        async def read(sessions: Any = sessions) -> None:
            async with sessions() as session:
                await session.execute(text("SELECT n FROM t WHERE id = 1"))

        async def write(sessions: Any = sessions) -> None:
            async with sessions() as session, session.begin():
                await session.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))

        async def core_read(engine: AsyncEngine = engine) -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT n FROM t WHERE id = 1"))

        cases += [
            (f"read, {label}", read),
            (f"read on a Core connection, {label}", core_read),
            (f"write, {label}", write),
        ]
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    driver: dict[str, dict[str, int]] = {}
    for label, fn in cases:
        await fn()  # a pooled connection exists
        calls_seen.clear()
        await fn()
        driver[label] = dict(calls_seen)
    for _ in range(5):
        for label, fn in cases:
            start = time.perf_counter()
            for _ in range(args.calls):
                await fn()
            times[label].append((time.perf_counter() - start) / args.calls)
    print("| case | µs per call | driver calls per call |")
    print("|---|---:|---|")
    for label, _ in cases:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(driver[label].items()))
        print(f"| {label} | {statistics.median(times[label]) * 1e6:.0f} | {shown} |")
    for engine in made.values():
        await engine.dispose()
    async with admin.begin() as conn:
        await conn.execute(text("DROP DATABASE pool_bench"))
    await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
