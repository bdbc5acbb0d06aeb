"""Bulk upload throughput: N rows through the catalog's job (parse, store, chunk tasks).

    .venv/bin/python bench/catalog_bulk_bench.py --rows 100000 --workers 2

SQLite runs the chunks on the in-process queue; MariaDB + Redis runs them in `--workers`
real `commerce worker` processes. Each backend uploads the file twice: the first run creates
every product, the second finds nothing changed (the idempotent re-upload).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from commerce_catalog import bulk
from sqlalchemy import text
from sqlalchemy.engine import make_url

from commerce_kernel import Kernel
from commerce_kernel.db import create_engine
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.plugins import load_plugins
from commerce_kernel.settings import Settings

SECRET = "bench-secret-" + "x" * 40


def csv_bytes(n: int) -> bytes:
    lines = ["sku,name,description,price,stock,is_active"]
    lines += [
        f"BULK-{i:07d},Product {i},Bench product number {i} in cotton,{i % 900 + 1}.99,{i % 40},true"
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def start_workers(env: dict[str, str], n: int) -> list[subprocess.Popen[bytes]]:
    exe = str(Path(sys.executable).with_name("commerce"))
    full = {**os.environ, **env, "COMMERCE_PLUGINS": "catalog"}
    return [
        subprocess.Popen(
            [exe, "worker", "--no-cron"],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
        p.wait(15)


async def wait_done(kernel: Any, job_id: str) -> Any:
    while True:
        status = await bulk.job_status(kernel, job_id)
        if status.status in ("succeeded", "failed"):
            return status
        await asyncio.sleep(0.1)


async def run(name: str, env: dict[str, str], rows: int, workers: int, out: list[str]) -> None:
    settings = Settings(**{k.lower(): v for k, v in env.items()})
    kernel = Kernel(settings, load_plugins(["kernel", "catalog"], ()), env)
    await upgrade(kernel)
    procs = start_workers(env, workers) if settings.redis_url else []
    data = csv_bytes(rows)
    try:
        async with kernel.running(run_cron=False):
            for label in ("first upload (all created)", "same file again (nothing changed)"):
                t0 = time.perf_counter()
                job_id = await bulk.create_job(kernel, io.BytesIO(data), filename="bench.csv")
                stored = time.perf_counter() - t0
                if not settings.redis_url:
                    await kernel.queue.drain(timeout=3600)
                status = await wait_done(kernel, job_id)
                total = time.perf_counter() - t0
                out.append(
                    f"| {name} | {label} | {rows:,} | {stored:.1f} | {total:.1f} | "
                    f"{rows / total:,.0f} | {status.created:,} / {status.updated:,} |"
                )
    finally:
        stop_workers(procs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=("sqlite", "mariadb", "both"), default="both")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    out = [
        "| backend | run | rows | 202 after (s) | done after (s) | rows/s | created / updated |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    if args.backend in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="catalog-bulk-")) / "bench.db"
        env = {
            "DATABASE_URL": f"sqlite:///{path}",
            "SECRET_KEY": SECRET,
            "EMAIL_TO_LOG_ALLOWED": "true",
        }
        await run("SQLite, in-process queue", env, args.rows, 0, out)
    if args.backend in ("mariadb", "both"):
        base = make_url(args.mysql_url)
        admin = create_engine(base.set(database=None).render_as_string(hide_password=False))
        async with admin.connect() as conn:
            await conn.execute(text("DROP DATABASE IF EXISTS catalog_bulk_bench"))
            await conn.execute(
                text(
                    "CREATE DATABASE catalog_bulk_bench "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
        await admin.dispose()
        env = {
            "DATABASE_URL": base.set(database="catalog_bulk_bench").render_as_string(
                hide_password=False
            ),
            "REDIS_URL": args.redis_url,
            "REDIS_PREFIX": f"bulkbench{uuid.uuid4().hex[:6]}:",
            "SECRET_KEY": SECRET,
            "EMAIL_TO_LOG_ALLOWED": "true",
        }
        await run(f"MariaDB + Redis, {args.workers} workers", env, args.rows, args.workers, out)
    print("\n".join(out))


if __name__ == "__main__":
    asyncio.run(main())
