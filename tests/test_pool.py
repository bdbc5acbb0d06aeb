"""The MariaDB connection pool: a busy connection is used without a ping and handed back with
no second ROLLBACK, yet no pooled connection keeps a transaction (or its metadata locks)
open, and one that died while idle is replaced before a request sees it."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest
from sqlalchemy import text

from commerce_kernel.db import PING_AFTER_IDLE, Database, create_engine, normalize_url
from commerce_kernel.identity import Account


@pytest.fixture
def mysql(kernel: Any) -> Any:
    if not kernel.db.is_mysql:
        pytest.skip("the MariaDB pool (the MariaDB + Redis run)")
    return kernel.db


async def _driver_class(db: Any) -> type:
    async with db.reader.connect() as conn:
        raw = await conn.get_raw_connection()
        return type(raw.dbapi_connection._connection)


async def test_a_busy_connection_is_neither_pinged_nor_rolled_back_twice(mysql, monkeypatch):
    seen: collections.Counter[str] = collections.Counter()
    driver = await _driver_class(mysql)
    for name in ("ping", "rollback", "commit"):
        original = getattr(driver, name)

        def counted(original: Any = original, name: str = name) -> Any:
            async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                seen[name] += 1
                return await original(self, *args, **kwargs)

            return call

        monkeypatch.setattr(driver, name, counted())
    async with mysql.session() as session:  # the pooled connection is now busy
        await session.execute(text("SELECT 1"))
    seen.clear()
    async with mysql.session() as session:
        await session.execute(text("SELECT 1"))
    # A read is one round trip: its connection is in autocommit mode, so the statement ended
    # its own transaction and there is nothing to roll back.
    assert dict(seen) == {}
    seen.clear()
    async with mysql.transaction() as session:
        await session.execute(text("SELECT 1"))
    assert dict(seen) == {"commit": 1}
    seen.clear()
    await asyncio.sleep(PING_AFTER_IDLE + 0.2)
    async with mysql.session() as session:
        await session.execute(text("SELECT 1"))
    assert seen["ping"] == 1  # idle a while: checked before use


async def test_no_pooled_connection_holds_a_lock_a_migration_would_wait_for(mysql, kernel):
    async with mysql.transaction() as session:
        await session.execute(text("CREATE TABLE pool_probe (id INT PRIMARY KEY)"))
    try:
        for _ in range(3):
            async with mysql.session() as session:
                await session.execute(text("SELECT * FROM pool_probe"))
            async with mysql.transaction() as session:
                await session.execute(text("SELECT * FROM pool_probe"))
        other = create_engine(kernel.settings.database_url)
        try:
            async with other.connect() as conn:
                await conn.execute(text("SET SESSION lock_wait_timeout = 2"))
                # Waits for any metadata lock a pooled connection's open transaction holds.
                await conn.execute(text("ALTER TABLE pool_probe ADD COLUMN x INT"))
        finally:
            await other.dispose()
    finally:
        async with mysql.transaction() as session:
            await session.execute(text("DROP TABLE pool_probe"))


async def test_connections_that_died_idle_are_replaced_unseen(mysql, client, kernel):
    for _ in range(3):
        assert (await client.get("/api/health/")).status_code == 200
    async with mysql.session() as session:
        await session.execute(text("SELECT 1"))
    other = create_engine(kernel.settings.database_url)
    try:
        async with other.connect() as conn:
            # Every connection of this deployment's pool (a restarted server's did so too).
            ids = (
                await conn.execute(
                    text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                    )
                )
            ).scalars()
            killed = list(ids)
            for connection_id in killed:
                await conn.execute(text(f"KILL {int(connection_id)}"))
    finally:
        await other.dispose()
    assert killed
    await asyncio.sleep(PING_AFTER_IDLE + 0.2)
    for _ in range(5):
        async with mysql.session() as session:
            now = (await session.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
        assert now not in killed


async def test_on_sqlite_a_read_neither_waits_for_the_writer_nor_sees_its_uncommitted_rows(
    kernel,
):
    if kernel.db.is_mysql:
        pytest.skip("the embedded default (SQLite)")

    read_done = asyncio.Event()

    async def count() -> int:
        async with kernel.db.session() as session:
            return len((await session.execute(text("SELECT id FROM accounts"))).all())

    before = await count()

    async def writer() -> None:
        async with kernel.db.transaction() as session:
            session.add(Account(email="writer@example.com", name="W"))
            await session.flush()  # the write lock is held from here to the commit
            # Were a read to take the write lock, it would wait here until busy_timeout.
            await asyncio.wait_for(read_done.wait(), 30)

    writing = asyncio.create_task(writer())
    await asyncio.sleep(0.1)
    assert not writing.done()
    seen = await count()
    read_done.set()
    await writing
    assert seen == before  # the snapshot before the write
    assert await count() == before + 1


@pytest.mark.parametrize("driver", ["asyncmy", "aiomysql"])
async def test_either_mysql_driver_reads_and_writes_through_both_pools(mysql, kernel, driver):
    # `mysql://` means asyncmy (the faster, `bench/README.md`); `mysql+aiomysql://` stays.
    assert normalize_url("mysql://u@h/shop").drivername == "mysql+asyncmy"
    url = normalize_url(kernel.settings.database_url).set(drivername=f"mysql+{driver}")
    db = Database(url.render_as_string(hide_password=False))
    try:
        assert (await _driver_class(db)).__module__.split(".")[0] == driver
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE pool_driver_probe (id INT PRIMARY KEY)"))
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO pool_driver_probe VALUES (1), (2)"))
            # A rowcount of matched rows, as the conditional stock UPDATE relies on.
            same = await session.execute(text("UPDATE pool_driver_probe SET id = id"))
            assert same.rowcount == 2
        async with db.session() as session:  # the autocommit reader sees the commit
            got = (await session.execute(text("SELECT id FROM pool_driver_probe"))).scalars()
            assert sorted(got) == [1, 2]
    finally:
        async with db.transaction() as session:
            await session.execute(text("DROP TABLE IF EXISTS pool_driver_probe"))
        await db.dispose()
