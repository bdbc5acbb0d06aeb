"""What one product read costs this process: `kernel.db.fetch_one` against SQLAlchemy Core.

    .venv/bin/python bench/lean_reads.py [--mysql-url mysql://root@127.0.0.1:3306/] [--calls 3000]

Creates the database `lean_reads_bench` (dropped after), a products table of 1,000 rows, and
reads one product by id, the product detail's statement, alternately through
`reader.connect()` + `execute` + `.first()` and through `kernel.db.fetch_one` (the statement
compiled once, run on the driver connection of a kept reader connection), round by round.
It prints µs of this process's CPU per read (`time.process_time`, so MariaDB's own work and
the wait for it are left out: steadier on a shared machine than wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal

from commerce_catalog.models import Product
from commerce_catalog.service import _BY_ID
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from commerce_kernel.db import Database

NAME = "lean_reads_bench"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = make_url(args.mysql_url).set(drivername="mysql+asyncmy", database=None)
    admin = create_async_engine(server)
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {NAME}"))
        await conn.execute(text(f"CREATE DATABASE {NAME} CHARACTER SET utf8mb4"))
    url = server.set(database=NAME).render_as_string(hide_password=False)
    db = Database(url.replace("mysql+asyncmy://", "mysql://"))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(Product.__table__.create)
            await conn.execute(
                insert(Product),
                [
                    {
                        "sku": f"LR-{i:05d}",
                        "name": f"Thing {i}",
                        "description": "A thing for the lean-reads bench.",
                        "price": Decimal("10.00") + i,
                        "stock": 100,
                        "sold_count": 0,
                        "is_active": True,
                    }
                    for i in range(1000)
                ],
            )

        async def core(i: int) -> None:
            async with db.reader.connect() as conn:
                (await conn.execute(_BY_ID, {"id": 1 + i % 1000})).first()

        async def lean(i: int) -> None:
            await db.fetch_one(_BY_ID, {"id": 1 + i % 1000})

        cases = {"reader.connect() + execute": core, "kernel.db.fetch_one": lean}
        for fn in cases.values():  # warm: pools filled, statements compiled
            for i in range(200):
                await fn(i)
        seen: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                started = time.process_time()
                for i in range(args.calls):
                    await fn(i)
                seen[name].append((time.process_time() - started) / args.calls * 1e6)
        for name, figures in seen.items():
            print(f"  {name:28s} {statistics.median(figures):7.1f} µs of CPU per read (median)")
    finally:
        await db.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {NAME}"))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
