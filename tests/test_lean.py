"""`kernel.db.fetch_one` / `fetch_all`: the hot reads' path past SQLAlchemy's execution layer
gives what SQLAlchemy gives, fails as it fails, and steps aside for whoever watches the SQL."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import commerce_catalog.api as catalog
import pytest
from commerce_catalog.models import Product
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InvalidRequestError, StatementError

from commerce_kernel.db import is_disconnect
from commerce_kernel.identity import Account
from commerce_kernel.testing.statements import record_statements

make_product = catalog.make_product


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["catalog"]


STATEMENTS = {
    "by id, a bound parameter": (
        select(
            Product.id,
            Product.sku,
            Product.price,
            Product.is_active,
            Product.created_at,
            Product.stock,
        ).where(Product.id == bindparam("id")),
        lambda ids: {"id": ids[1]},
    ),
    "literal values, a limit, an expression, a label": (
        select(Product.sku, (Product.price * 2).label("twice"), func.length(Product.name))
        .where(Product.is_active.is_(True), Product.price > Decimal("1.50"))
        .order_by(Product.price.desc())
        .limit(3),
        lambda ids: {},
    ),
    "no row": (select(Product.id).where(Product.id == bindparam("id")), lambda ids: {"id": -1}),
    "a join with a repeated column name": (
        select(Product.id, Account.id, Account.email)
        .join(Account, Account.id == Product.id, isouter=True)
        .where(Product.id.in_(select(Product.id).where(Product.name.like(bindparam("name")))))
        .order_by(Product.id),
        lambda ids: {"name": "Lean %"},
    ),
}


async def _products(make_product) -> list[int]:
    products = [await make_product(name=f"Lean {i} ✓", price=f"{i}.25") for i in range(1, 5)]
    return [p.id for p in products]


@pytest.mark.parametrize("case", list(STATEMENTS))
async def test_the_rows_are_those_sqlalchemy_gives(kernel, make_product, case):
    ids = await _products(make_product)
    stmt, params = STATEMENTS[case]
    async with kernel.db.reader.connect() as conn:
        expected = (await conn.execute(stmt, params(ids))).all()
    rows = await kernel.db.fetch_all(stmt, params(ids))
    again = await kernel.db.fetch_all(stmt, params(ids))  # the compiled plan, used again
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected] == [tuple(r) for r in again]
    for row, want in zip(rows, expected, strict=True):
        assert [type(v) for v in row] == [type(v) for v in want]
        assert row._fields == tuple(want._fields)
        for name in want._fields:
            assert getattr(row, name) == getattr(want, name)
    one = await kernel.db.fetch_one(stmt, params(ids))
    assert (tuple(one) if one is not None else None) == (tuple(expected[0]) if expected else None)


async def test_types_come_back_as_the_columns_declare(kernel, make_product):
    ids = await _products(make_product)
    stmt, params = STATEMENTS["by id, a bound parameter"]
    row = await kernel.db.fetch_one(stmt, params(ids))
    assert row.id == ids[1] and row.sku == "SKU-2" and row.price == Decimal("2.25")
    assert row.is_active is True and isinstance(row.stock, int)
    assert isinstance(row.created_at, datetime) and row.created_at.utcoffset() is not None


async def test_a_missing_parameter_is_an_error_not_a_guess(kernel):
    stmt = select(Product.id).where(Product.id == bindparam("id"))
    with pytest.raises((StatementError, InvalidRequestError), match="value is required"):
        await kernel.db.fetch_all(stmt, {})


async def test_an_expanding_in_and_a_watched_engine_take_sqlalchemys_path(kernel, make_product):
    ids = await _products(make_product)
    among = select(Product.sku).where(Product.id.in_(bindparam("ids", expanding=True)))
    rows = await kernel.db.fetch_all(among.order_by(Product.id), {"ids": ids[:2]})
    assert [r.sku for r in rows] == ["SKU-1", "SKU-2"]
    stmt, params = STATEMENTS["by id, a bound parameter"]
    with record_statements(*kernel.db.engines) as seen:
        row = await kernel.db.fetch_one(stmt, params(ids))
    assert row.sku == "SKU-2"
    # Observed as it ran (SQLite's reads begin a transaction of their own).
    assert [s for s in seen if s != "BEGIN"] == [
        " ".join(str(stmt.compile(kernel.db.engine)).split())
    ]


async def test_a_bad_statement_raises_as_sqlalchemy_would_and_the_pool_goes_on(kernel):
    wrong = select(text("nope FROM no_such_table"))
    with pytest.raises(DBAPIError) as raised:
        await kernel.db.fetch_all(wrong)
    assert not is_disconnect(raised.value)
    assert (await kernel.db.fetch_one(select(func.count()).select_from(Product)))[0] >= 0


async def _kill_connections_of(kernel) -> int:
    """KILL every connection to the test database but the caller's: how many there were."""
    import asyncmy

    url = make_url(kernel.db.url)
    admin = await asyncmy.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
    )
    try:
        async with admin.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> "
                "CONNECTION_ID()",
                (url.database,),
            )
            threads = [t for (t,) in await cur.fetchall()]
            for thread in threads:
                await cur.execute(f"KILL CONNECTION {int(thread)}")
    finally:
        admin.close()
    return len(threads)


async def test_a_connection_the_server_killed_is_a_503_once_then_replaced(kernel):
    if not kernel.db.is_mysql:
        pytest.skip("SQLite reads take SQLAlchemy's path; there is no server to lose")
    count = select(func.count()).select_from(Product)
    for _ in range(3):  # a few reader connections in the pool, all recently used
        await kernel.db.fetch_one(count)
    assert await _kill_connections_of(kernel) > 0
    failures = []
    try:
        for _ in range(40):
            try:
                assert (await kernel.db.fetch_one(count))[0] >= 0
                break
            except DBAPIError as exc:
                failures.append(exc)
        else:
            pytest.fail(f"no read succeeded after the kill: {failures[-1]!r}")
        assert failures, "the killed connections were used: the first read on one must fail"
        assert all(is_disconnect(f) for f in failures), failures
        assert all(f.connection_invalidated for f in failures)
    finally:
        await kernel.db.dispose()  # the writer's pool held killed connections too


async def test_a_connection_that_sat_idle_is_pinged_and_a_dead_one_replaced(kernel):
    if not kernel.db.is_mysql:
        pytest.skip("SQLite reads take SQLAlchemy's path; there is no server to lose")
    from commerce_kernel.db import PING_AFTER_IDLE

    count = select(func.count()).select_from(Product)
    await asyncio.gather(*(kernel.db.fetch_one(count) for _ in range(3)))
    await asyncio.sleep(PING_AFTER_IDLE + 0.2)
    try:
        assert await _kill_connections_of(kernel) > 0
        # Every connection kept or pooled sat idle: each is pinged first, so no read fails.
        for _ in range(5):
            assert (await kernel.db.fetch_one(count))[0] >= 0
    finally:
        await kernel.db.dispose()


async def test_several_reads_share_one_connection(kernel, make_product):
    ids = await _products(make_product)
    stmt, params = STATEMENTS["by id, a bound parameter"]
    connection = select(func.connection_id())
    async with kernel.db.reads() as reads:
        first = await reads.one(stmt, params(ids))
        rows = await reads.all(select(Product.id).order_by(Product.id))
        same = (
            [await reads.one(connection), await reads.one(connection)] if kernel.db.is_mysql else []
        )
    assert first.id == ids[1] and [r.id for r in rows] == ids
    assert len({r[0] for r in same}) == (1 if kernel.db.is_mysql else 0)


async def test_kept_connections_never_leave_a_read_waiting_on_a_full_pool(kernel):
    if not kernel.db.is_mysql:
        pytest.skip("SQLite reads take SQLAlchemy's path")
    from commerce_kernel.db import Database

    # Two connections at most: six reads at once, each holding its connection a moment. A
    # connection kept idle while others wait in the pool's queue would make them time out.
    small = Database(kernel.db.url, pool_size=1, max_overflow=1, timeout=3)
    nap = select(func.sleep(0.2))
    try:
        rows = await asyncio.wait_for(
            asyncio.gather(*(small.fetch_one(nap) for _ in range(6))), timeout=10
        )
        assert [r[0] for r in rows] == [0] * 6
        rows = await asyncio.gather(*(small.fetch_one(nap) for _ in range(6)))  # and again
        assert len(rows) == 6
    finally:
        await small.dispose()
