"""What the guards cost per request now that a token is checked against its account.

    .venv/bin/python bench/guard_bench.py [--calls 3000] [--backend sqlite|mariadb|both]

For each backend (a fresh SQLite file; a fresh MariaDB database `guard_bench`) it starts a
kernel (kernel plugin only, in-process pub/sub), creates a customer and an admin, and times,
one call after another in one task (median of 5 rounds of `--calls`):

- the signature and claims check alone (all the guards did before);
- the customer guard with the account state cached (the usual case within TOKEN_STATE_TTL);
- the customer guard reading the state (a cache miss: TOKEN_STATE_TTL=0 behaves so always);
- the admin guard (reads the database on every request);
- as yardsticks, one primary-key read on a pooled connection (what a handler's first query
  costs), and a whole in-process request `GET /api/auth/me/` (middleware, guard, the
  handler's own primary-key read, JSON), with the customer state cached and not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from starlette.requests import Request

from commerce_kernel import ADMIN, CUSTOMER, Kernel, create_app
from commerce_kernel.db import create_engine
from commerce_kernel.identity import Account, admin, create_account, customer, token_states
from commerce_kernel.migrations_runner import upgrade
from commerce_kernel.settings import Settings


async def per_call_us(
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]],
    calls: int,
    rounds: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> list[tuple[str, float]]:
    """Median µs per call of each case; the rounds interleave the cases, so a machine whose
    load changes during the run shifts every case alike. `clock=time.process_time` counts
    this process's CPU only (not the database's, nor time waiting for it)."""
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _, fn in cases:
        for _ in range(min(200, calls)):
            await fn()
    for _ in range(rounds):
        for label, fn in cases:
            start = clock()
            for _ in range(calls):
                await fn()
            times[label].append((clock() - start) / calls)
    return [(label, statistics.median(times[label]) * 1e6) for label, _ in cases]


def request_scope(app: Any, token: str, path: str = "/api/auth/me/") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 4242),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def run_backend(name: str, url: str, calls: int) -> list[tuple[str, float]]:
    settings = Settings(
        database_url=url, secret_key="bench" * 10, redis_url=None, email_to_log_allowed=True
    )
    kernel = Kernel.load(settings, plugins=["kernel"])
    await upgrade(kernel)
    app = create_app(kernel=kernel)
    await kernel.start(run_cron=False)
    try:
        async with kernel.db.transaction() as session:
            shopper = await create_account(session, "shopper@example.com")
            staff = await create_account(session, "staff@example.com", is_admin=True)
            customer_token = (await kernel.tokens.issue(session, shopper.id, CUSTOMER)).access_token
            admin_token = (await kernel.tokens.issue(session, staff.id, ADMIN)).access_token
        states = token_states(kernel)
        as_customer = Request(request_scope(app, customer_token))
        as_admin = Request(request_scope(app, admin_token))
        for _ in range(100):  # the pub/sub subscription starts on the first check
            if states._listening:
                break
            await customer(as_customer)
            await asyncio.sleep(0.01)

        async def primary_key_read() -> Any:
            async with kernel.db.engine.connect() as conn:
                return (await conn.execute(select(Account.id).where(Account.id == staff.id))).one()

        async def verify_only() -> Any:
            return kernel.tokens.verify_access(customer_token, CUSTOMER)

        async def customer_cached() -> Any:
            return await customer(as_customer)

        async def customer_read() -> Any:
            states.forget({"all": True})
            return await customer(as_customer)

        async def admin_guard() -> Any:
            return await admin(as_admin)

        async def whole_request(token: str, drop: bool) -> None:
            if drop:
                states.forget({"all": True})
            scope = request_scope(app, token)
            status = 0

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]

            await app(scope, receive, send)
            assert status == 200, status

        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("reference: one primary-key read on a pooled connection", primary_key_read),
            ("token signature + claims only (the guard before)", verify_only),
            ("customer guard, state cached", customer_cached),
            ("customer guard, state read (cache miss / TTL 0)", customer_read),
            ("admin guard (database on every request)", admin_guard),
            (
                "whole GET /api/auth/me/, customer, state cached",
                lambda: whole_request(customer_token, False),
            ),
            (
                "whole GET /api/auth/me/, customer, state read",
                lambda: whole_request(customer_token, True),
            ),
            ("whole GET /api/auth/me/, admin", lambda: whole_request(admin_token, False)),
        ]
        out = await per_call_us(cases, calls)
        print(f"\n{name}")
        for label, us in out:
            print(f"  {label:52s} {us:9.1f} µs")
        return out
    finally:
        await kernel.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--backend", choices=("sqlite", "mariadb", "both"), default="both")
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="guard-bench-")) / "bench.db"
        await run_backend("SQLite", f"sqlite:///{path}", args.calls)
    if args.backend in ("mariadb", "both"):
        base = make_url(args.mysql_url)
        server = create_engine(base.set(database=None).render_as_string(hide_password=False))
        async with server.connect() as conn:
            await conn.execute(text("DROP DATABASE IF EXISTS guard_bench"))
            await conn.execute(text("CREATE DATABASE guard_bench CHARACTER SET utf8mb4"))
        try:
            url = base.set(database="guard_bench").render_as_string(hide_password=False)
            await run_backend("MariaDB", url, args.calls)
        finally:
            async with server.connect() as conn:
                await conn.execute(text("DROP DATABASE IF EXISTS guard_bench"))
            await server.dispose()


if __name__ == "__main__":
    asyncio.run(main())
