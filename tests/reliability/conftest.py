"""Reliability tests. The fixtures here are requested by name, none is autouse and none
overrides the kit's: the fault tests (`test_faults.py`) choose their plugins and put their
deployment on the private servers of `private_services` themselves, so the other modules here
run on the run's own backend.

`private_services` is a private MariaDB and Redis that fault tests stop, start and kill (the
machine's shared servers are never touched). It skips on the SQLite run
(`COMMERCE_TEST_DATABASE_URL` unset); under `CI=true` a machine without `mariadbd` or
`redis-server` fails it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from commerce_catalog.api import make_product  # noqa: F401 - a fixture, for who asks
from commerce_catalog.models import Product
from commerce_orders.models import MailOutboxRow, Order, OrderLine
from sqlalchemy import func, select

from commerce_kernel.testing import Backend
from tests.reliability.services import (
    FAULT_RUN,
    NOT_FAULT_RUN,
    HoldingSMTPSink,
    PrivateMariaDB,
    PrivateRedis,
    PrivateServices,
    missing_binaries,
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def private_services(_commerce_deployments: Any) -> AsyncIterator[PrivateServices]:
    """A private mariadbd and redis-server for the whole session, stopped at its end."""
    if not FAULT_RUN:
        pytest.skip(NOT_FAULT_RUN)
    missing = missing_binaries()
    if missing:
        message = f"fault tests need {', '.join(missing)} on this machine"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Short: a Unix socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="ck-faults-"))
    (root / "mariadb").mkdir()
    (root / "redis").mkdir()
    mariadb = await asyncio.to_thread(PrivateMariaDB, root / "mariadb")
    redis = PrivateRedis(root / "redis")
    services = PrivateServices(mariadb, redis)
    try:
        await asyncio.to_thread(mariadb.start)
        await asyncio.to_thread(redis.start)
        yield services
    finally:
        try:
            if mariadb.proc is not None and redis.proc is not None:
                await asyncio.to_thread(ensure_running, services)
                # The deployments on these servers drop their databases there: before the stop.
                await _commerce_deployments.close(Backend(mariadb.url, redis.url))
        finally:
            await asyncio.to_thread(services.stop)
            shutil.rmtree(root, ignore_errors=True)


def ensure_running(services: PrivateServices) -> None:
    for server in (services.mariadb, services.redis):
        if not server.running:
            server.start()


@pytest.fixture
def services(private_services: PrivateServices, deployment: Any) -> Iterator[PrivateServices]:
    """The private servers, for a test to stop and start; both running again after it, before
    the deployment is emptied (set up after `deployment`, so torn down before it)."""
    ensure_running(private_services)
    yield private_services
    ensure_running(private_services)


@pytest_asyncio.fixture(loop_scope="session")
async def smtp() -> AsyncIterator[HoldingSMTPSink]:
    """A real SMTP server (aiosmtpd) the spawned worker sends to (`env=smtp.settings`)."""
    sink = HoldingSMTPSink()
    await sink.start()
    try:
        yield sink
    finally:
        sink.release()
        await sink.stop()


@pytest.fixture
def order_state(kernel: Any) -> Any:
    """`await order_state(product_id)` → what the database holds: orders, the order ids with
    no line, units in lines, the product's stock and sold count, outbox rows (all, sent)."""

    async def read(product_id: int) -> dict[str, Any]:
        async with kernel.db.session() as session:
            orders = await session.scalar(select(func.count()).select_from(Order))
            without_lines = list(
                (
                    await session.execute(
                        select(Order.id).where(~Order.lines.any()).order_by(Order.id)
                    )
                ).scalars()
            )
            units = await session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)))
            product = (
                await session.execute(
                    select(Product.stock, Product.sold_count).where(Product.id == product_id)
                )
            ).one()
            outbox = await session.scalar(select(func.count()).select_from(MailOutboxRow))
            sent = await session.scalar(
                select(func.count())
                .select_from(MailOutboxRow)
                .where(MailOutboxRow.sent_at.is_not(None))
            )
        return {
            "orders": int(orders or 0),
            "orders_without_lines": without_lines,
            "units": int(units or 0),
            "stock": product.stock,
            "sold": product.sold_count,
            "outbox": int(outbox or 0),
            "sent": int(sent or 0),
        }

    return read
