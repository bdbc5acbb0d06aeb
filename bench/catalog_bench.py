"""Catalog scale benchmark: load N products, then explain and time list/search/order queries.

    .venv/bin/python bench/catalog_bench.py --rows 100000 --backend both

Each backend gets a fresh database (a SQLite file; MariaDB database `catalog_bench`), the
catalog migrations, and N generated products (names and descriptions from a small
vocabulary with some non-ASCII words). Every query is the statement the API runs
(`service.list_statements`), timed as the median of several runs, with its ratio against a
reference query of the same run (a primary-key lookup), and its query plan printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from commerce_catalog import search
from commerce_catalog.api import Product
from commerce_catalog.service import ProductFilter, list_statements
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from commerce_kernel import Kernel
from commerce_kernel.db import create_engine, utcnow_seconds
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.settings import Settings

WORDS = (
    "cotton linen wool merino denim canvas leather steel ceramic glass oak walnut bamboo "
    "red blue green black white grey navy olive amber coral shirt hoodie jacket scarf mug "
    "bottle lamp chair table poster notebook pen bag tote cap socks organic vintage classic "
    "éclair straße crème façade smörgås jalapeño"
).split()


def product_rows(n: int, mysql: bool, seed: int = 7) -> Any:
    rng = random.Random(seed)
    stamp = utcnow_seconds()
    for i in range(n):
        name = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize()
        description = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        sku = f"SKU-{i:07d}-{rng.choice('ABCDEFGH')}{rng.randint(0, 99):02d}"
        row = {
            "sku": sku,
            "name": name,
            "description": description,
            "price": Decimal(rng.randint(100, 99_999)) / 100,
            "stock": rng.choice((0, 0, 1, 5, 20, 100, 1000)),
            "sold_count": rng.randint(0, 10_000),
            "is_active": rng.random() > 0.05,
            "created_at": stamp,
            "updated_at": stamp,
        }
        row.update(search.search_columns(sku, name, description, mysql))
        yield row


QUERIES: list[tuple[str, ProductFilter, int]] = [
    ("list default (id), page 1", ProductFilter(), 0),
    ("list ordering=name, page 1", ProductFilter(ordering=(("name", False),)), 0),
    ("list ordering=-price, page 1", ProductFilter(ordering=(("price", True),)), 0),
    ("list ordering=-sold_count, page 1", ProductFilter(ordering=(("sold_count", True),)), 0),
    ("list ordering=created_at, page 1", ProductFilter(ordering=(("created_at", False),)), 0),
    ("list ordering=stock, page 1", ProductFilter(ordering=(("stock", False),)), 0),
    (
        "list ordering=price,name (multi), page 1",
        ProductFilter(ordering=(("price", False), ("name", False))),
        0,
    ),
    ("list ordering=name, page 500", ProductFilter(ordering=(("name", False),)), 9980),
    (
        "filter min/max price + in_stock, ordering=price",
        ProductFilter(
            min_price=Decimal("10.00"),
            max_price=Decimal("20.00"),
            in_stock=True,
            ordering=(("price", False),),
        ),
        0,
    ),
    ("search 'walnut' (common word)", ProductFilter(search="walnut"), 0),
    ("search 'alnu' (infix)", ProductFilter(search="alnu"), 0),
    ("search 'walnut lamp olive' (3 terms)", ProductFilter(search="walnut lamp olive"), 0),
    ("search 'ÉCLAIR' (non-ASCII, case)", ProductFilter(search="ÉCLAIR"), 0),
    ("search '0012345' (SKU fragment)", ProductFilter(search="0012345"), 0),
    ("search 'sku-0099999-' (SKU prefix)", ProductFilter(search="sku-0099999-"), 0),
    ("search 'zq' (short, no match)", ProductFilter(search="zq"), 0),
    ("search 'ak' (short term, scan)", ProductFilter(search="ak"), 0),
    (
        "search 'walnut' ordering=-sold_count",
        ProductFilter(search="walnut", ordering=(("sold_count", True),)),
        0,
    ),
    (
        "admin list (inactive too), ordering=name",
        ProductFilter(include_inactive=True, ordering=(("name", False),)),
        0,
    ),
]


def literal_sql(stmt: Any, dialect: Any) -> str:
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def timed(conn: Any, stmt: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await conn.execute(stmt)
        result.fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def run_backend(name: str, url: str, rows: int, repeat: int, out: list[str]) -> None:
    settings = Settings(database_url=url, secret_key="bench" * 10, redis_url=None)
    kernel = Kernel.load(settings, plugins=["kernel", "catalog"])
    await upgrade(kernel)
    engine = kernel.db.engine
    mysql = kernel.db.is_mysql
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    async with engine.begin() as conn:
        for row in product_rows(rows, mysql):
            batch.append(row)
            if len(batch) >= 5000:
                await conn.execute(insert(Product.__table__), batch)
                batch = []
        if batch:
            await conn.execute(insert(Product.__table__), batch)
    load = time.perf_counter() - t0
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE TABLE products" if mysql else "ANALYZE"))
    out.append(f"\n### {name}: {rows:,} products (loaded in {load:.1f} s)\n")
    dialect = engine.dialect
    async with engine.connect() as conn:
        ref_stmt = select(Product.id, Product.name, Product.price).where(Product.id == rows // 2)
        ref = await timed(conn, ref_stmt, repeat * 5)
        out.append(f"reference: primary-key lookup = {ref * 1000:.2f} ms\n")
        out.append("| query | count (ms) | page (ms) | total / reference | rows |")
        out.append("|---|---:|---:|---:|---:|")
        plans: list[str] = []
        for label, f, offset in QUERIES:
            count_stmt, page_stmt = list_statements(f, mysql, offset, 20)
            count = (await conn.execute(count_stmt)).scalar_one()
            tc = await timed(conn, count_stmt, repeat)
            tp = await timed(conn, page_stmt, repeat)
            out.append(
                f"| {label} | {tc * 1000:.1f} | {tp * 1000:.1f} | "
                f"{(tc + tp) / ref:,.0f}x | {count:,} |"
            )
            sql = literal_sql(page_stmt, dialect)
            explain = "EXPLAIN " if mysql else "EXPLAIN QUERY PLAN "
            plan = (await conn.exec_driver_sql(explain + sql)).fetchall()
            lines = [
                " | ".join(str(c) for c in (r[2], r[3], r[4], r[5], r[6], r[9]))
                if mysql
                else str(r[3])
                for r in plan
            ]
            plans.append(f"- {label}:\n" + "\n".join(f"    {line}" for line in lines))
        out.append("\nPlans of the page queries:\n")
        out.extend(plans)
    await kernel.db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "mariadb", "both"), default="both")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    out: list[str] = []
    if args.backend in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="catalog-bench-")) / "bench.db"
        await run_backend("SQLite", f"sqlite:///{path}", args.rows, args.repeat, out)
    if args.backend in ("mariadb", "both"):
        base = make_url(args.mysql_url)
        admin = create_engine(base.set(database=None).render_as_string(hide_password=False))
        async with admin.connect() as conn:
            await conn.execute(text("DROP DATABASE IF EXISTS catalog_bench"))
            await conn.execute(
                text(
                    "CREATE DATABASE catalog_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
        await admin.dispose()
        url = base.set(database="catalog_bench").render_as_string(hide_password=False)
        await run_backend("MariaDB", url, args.rows, args.repeat, out)
    print("\n".join(out))


if __name__ == "__main__":
    asyncio.run(main())
