"""Order mail through an outbox: rows written with the order, sent once by a task after commit.

Exactly-once as far as SMTP allows: a row is claimed with a conditional update (a lease with
an expiry), sent, then marked sent. Re-enqueueing (the cron job, a retry) finds it sent or
leased and does nothing. The residual window is a crash after the SMTP server accepted the
message and before `sent_at` is written: the lease then expires and the mail is sent again.
Every message carries a Message-ID derived from the row, so a second copy is the *same*
message, which receiving systems and mail clients de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from commerce_kernel import Kernel
from commerce_kernel.db import rowcount, utcnow
from commerce_kernel.identity import Account
from commerce_kernel.mail import Mail
from commerce_orders.models import MailOutboxRow, Order, OrderLine
from commerce_orders.settings import OrdersSettings

logger = logging.getLogger("commerce.orders.mail")

TASK = "orders.send_mail"
PLACED = "order_placed"
STATUS_CHANGED = "status_changed"


def job_id(row_id: int) -> str:
    """One job per outbox row: enqueueing it again while it is queued is a no-op."""
    return f"orders-mail-{row_id}"


async def enqueue(kernel: Kernel, row_id: int) -> None:
    """After commit. If the queue is down the row waits for the re-enqueue cron job."""
    try:
        await kernel.queue.enqueue(TASK, row_id, job_id=job_id(row_id))
    except Exception:
        logger.warning("could not enqueue order mail %s; the cron job will", row_id, exc_info=True)


def message_id(kernel: Kernel, row: Any) -> str:
    """Of an outbox row (`id`, `order_id`): the same for every copy sent of it."""
    domain = kernel.settings.default_from_email.rpartition("@")[2].strip("> ") or "localhost"
    return f"<order-{row.order_id}-mail-{row.id}@{domain}>"


# What a mail is written from, in one statement: the outbox row, its order, the customer's
# address (the worker reads no ORM objects for it); the lines only for a confirmation.
_MAIL_OF = (
    select(
        MailOutboxRow.id,
        MailOutboxRow.order_id,
        MailOutboxRow.kind,
        MailOutboxRow.data,
        Order.status,
        Order.currency,
        Order.subtotal,
        Order.adjustments,
        Order.total,
        Account.email,
    )
    .join(Order, Order.id == MailOutboxRow.order_id)
    .outerjoin(Account, Account.id == Order.account_id)
    .where(MailOutboxRow.id == bindparam("id"))
)
_LINES_OF = (
    select(OrderLine.quantity, OrderLine.name, OrderLine.sku, OrderLine.line_total)
    .where(OrderLine.order_id == bindparam("order_id"))
    .order_by(OrderLine.id)
)


def render(kernel: Kernel, row: Any, lines: Sequence[Any]) -> Mail:
    """The mail of an outbox row read with `_MAIL_OF` (its order's `lines` for a
    confirmation, from `_LINES_OF`)."""
    c = row.currency

    def money(x: Decimal) -> str:
        return f"{x} {c}"

    if row.kind == PLACED:
        subject = f"Your order #{row.order_id} is confirmed"
        items = [
            f"  {line.quantity} x {line.name} ({line.sku}) {money(line.line_total)}"
            for line in lines
        ]
        adjustments = [f"  {a['label']}: {a['amount']} {c}" for a in row.adjustments]
        body = "\n".join(
            [
                f"Thank you for your order #{row.order_id}.",
                "",
                *items,
                "",
                f"  Subtotal: {money(row.subtotal)}",
                *adjustments,
                f"  Total: {money(row.total)}",
            ]
        )
    else:
        new = row.data.get("new", row.status)
        subject = f"Your order #{row.order_id} is now {new}"
        body = f"Your order #{row.order_id} changed from {row.data.get('old')} to {new}."
    return Mail(
        to=[row.email or ""],
        subject=subject,
        body=body + "\n",
        headers={"Message-ID": message_id(kernel, row)},
    )


# The send task's timeout; it stays under ORDERS_MAIL_LEASE_SECONDS (60 by default): a send
# that overran its lease could meet a second sender that took the expired lease over.
SEND_TIMEOUT = 45.0


async def send(kernel: Kernel, row_id: int) -> bool:
    """Send one outbox row if nobody has (or is): True when this call sent it.

    Raises when the mail server fails, after giving the lease back, so the task retries.
    """
    settings = kernel.section(OrdersSettings)
    now = utcnow()
    # Insisting on the record below stops before the lease ends or the task is cut off.
    deadline = time.monotonic() + min(settings.mail_lease_seconds, SEND_TIMEOUT)
    async with kernel.db.transaction() as session:
        claimed = await session.execute(
            update(MailOutboxRow)
            .where(
                MailOutboxRow.id == row_id,
                MailOutboxRow.sent_at.is_(None),
                or_(MailOutboxRow.lease_until.is_(None), MailOutboxRow.lease_until < now),
            )
            .values(
                lease_until=now + timedelta(seconds=settings.mail_lease_seconds),
                attempts=MailOutboxRow.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            return False  # already sent, or another sender holds the lease
        row = (await session.execute(_MAIL_OF, {"id": row_id})).one()
        lines = (
            (await session.execute(_LINES_OF, {"order_id": row.order_id})).all()
            if row.kind == PLACED
            else []
        )
    try:
        await kernel.mailer.send(render(kernel, row, lines))
    except Exception:
        await _set(kernel, row_id, lease_until=None)
        raise
    # The message is out: recording that matters most. Insist while the lease holds, through
    # a database outage (giving up leaves the lease to expire and the mail to be sent again).
    attempt = 0
    while True:
        try:
            await _set(kernel, row_id, sent_at=utcnow(), lease_until=None)
            return True
        except Exception:
            attempt += 1
            pause = min(0.2 * 2 ** (attempt - 1), 2.0)
            if time.monotonic() + pause > deadline - 1:
                break
            if attempt == 1:
                logger.warning("could not mark order mail %s sent; retrying", row_id)
            await asyncio.sleep(pause)
    logger.error("order mail %s was sent but could not be marked sent", row_id)
    return True


async def _set(kernel: Kernel, row_id: int, **values: Any) -> None:
    async with kernel.db.transaction() as session:
        await session.execute(
            update(MailOutboxRow)
            .where(MailOutboxRow.id == row_id, MailOutboxRow.sent_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def requeue_unsent(kernel: Kernel, *, older_than: float | None = None) -> int:
    """Enqueue every unsent, unleased row older than a few seconds (the enqueue after commit
    was lost, a worker died, retries ran out); the stable job id and the lease keep it single."""
    settings = kernel.section(OrdersSettings)
    age = settings.mail_requeue_after_seconds if older_than is None else older_than
    now = utcnow()
    async with kernel.db.session() as session:
        rows = (
            await session.execute(
                select(MailOutboxRow.id)
                .where(
                    MailOutboxRow.sent_at.is_(None),
                    MailOutboxRow.created_at <= now - timedelta(seconds=age),
                    or_(MailOutboxRow.lease_until.is_(None), MailOutboxRow.lease_until < now),
                    MailOutboxRow.attempts < settings.mail_max_attempts,
                )
                .order_by(MailOutboxRow.id)
                .limit(500)
            )
        ).scalars()
        ids = list(rows)
    for row_id in ids:
        await enqueue(kernel, row_id)
    return len(ids)
