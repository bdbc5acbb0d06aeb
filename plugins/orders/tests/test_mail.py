"""Order mail: sent once through the outbox, at a real SMTP server, despite failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_orders import outbox
from commerce_orders.models import MailOutboxRow
from sqlalchemy import select

from commerce_kernel.mail import SMTPMailer


@pytest.fixture
def smtp_delivery(kernel: Any, smtp_server: Any, spawn: Any) -> Iterator[Any]:
    """Deliver order mail to the real SMTP fixture: through a real `commerce worker` on
    MariaDB + Redis, or by this process's in-process queue with an SMTP mailer swapped in."""
    if kernel.settings.redis_url:
        spawn("worker", env=smtp_server.settings)
        yield smtp_server
        return
    saved = kernel.mailer
    kernel.mailer = SMTPMailer(saved.default_from, "127.0.0.1", smtp_server.port, False, None, None)
    try:
        yield smtp_server
    finally:
        kernel.mailer = saved


async def _order(client: Any, product: Any) -> dict[str, Any]:
    r = await client.post(
        "/api/orders/", json={"items": [{"product_id": product.id, "quantity": 1}]}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _arrived(smtp: Any, subject: str, timeout: float = 30) -> list[Any]:
    """The messages with this subject at the SMTP server, once there is one, after a moment
    for a duplicate to show up if there were one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not [m for m in smtp.messages if m["Subject"] == subject]:
        assert asyncio.get_running_loop().time() < deadline, f"no mail {subject!r} arrived"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return [m for m in smtp.messages if m["Subject"] == subject]


async def _outbox(kernel: Any) -> list[MailOutboxRow]:
    async with kernel.db.session() as session:
        return list((await session.execute(select(MailOutboxRow))).scalars())


async def test_confirmation_arrives_once_at_a_real_smtp_server(
    kernel, customer, make_product, smtp_delivery
):
    order = await _order(customer.client, await make_product())
    messages = await _arrived(smtp_delivery, f"Your order #{order['id']} is confirmed")
    assert len(messages) == 1
    assert messages[0]["To"] == "customer@example.com"
    rows = await _outbox(kernel)
    assert [(r.attempts, r.sent_at is not None) for r in rows] == [(1, True)]


async def test_confirmation_is_retried_while_smtp_refuses(
    kernel, customer, make_product, smtp_delivery
):
    smtp_delivery.refuse(2)
    order = await _order(customer.client, await make_product())
    messages = await _arrived(smtp_delivery, f"Your order #{order['id']} is confirmed")
    assert len(messages) == 1
    assert smtp_delivery.attempts >= 3
    assert [(r.attempts, r.sent_at is not None) for r in await _outbox(kernel)] == [(3, True)]


async def test_lost_enqueue_is_recovered_by_the_cron_job_and_sent_once(
    kernel, customer, make_product, mailbox, run_tasks, monkeypatch
):
    async def queue_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    with monkeypatch.context() as m:
        m.setattr(kernel.queue, "enqueue", queue_down)
        order = await _order(customer.client, await make_product())  # still 201
    await run_tasks()
    assert mailbox == []

    # The re-enqueue sweep, run several times (as overlapping cron runs would), and the task
    # run by hand too: the row's lease and sent_at keep it to one message.
    for _ in range(3):
        assert await outbox.requeue_unsent(kernel, older_than=0) in (0, 1)
    row_id = (await _outbox(kernel))[0].id
    await outbox.send(kernel, row_id)
    await run_tasks()
    assert await outbox.send(kernel, row_id) is False
    assert await outbox.requeue_unsent(kernel, older_than=0) == 0
    assert len(mailbox) == 1
    assert mailbox[0]["Subject"] == f"Your order #{order['id']} is confirmed"


async def test_a_leased_row_is_not_sent_twice_but_an_expired_lease_is_taken_over(
    kernel, customer, make_product, mailbox, run_tasks
):
    from datetime import timedelta

    from sqlalchemy import update

    from commerce_kernel.db import utcnow

    await _order(customer.client, await make_product())
    row_id = (await _outbox(kernel))[0].id
    await run_tasks()
    assert len(mailbox) == 1
    mailbox.clear()
    # Pretend a sender crashed after SMTP accepted, before marking sent, long ago.
    async with kernel.db.transaction() as session:
        await session.execute(
            update(MailOutboxRow).values(sent_at=None, lease_until=utcnow() + timedelta(seconds=60))
        )
    assert await outbox.send(kernel, row_id) is False  # the lease still holds
    async with kernel.db.transaction() as session:
        await session.execute(
            update(MailOutboxRow).values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert await outbox.send(kernel, row_id) is True
    # The documented residual: a second copy, with the same Message-ID so receivers dedupe.
    assert mailbox[0]["Message-ID"] == outbox.message_id(kernel, (await _outbox(kernel))[0])
