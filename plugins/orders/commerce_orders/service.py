"""Orders: placing one (stock, snapshot, cart, mail outbox in one transaction), reading them,
and moving them through their life cycle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from commerce_cart.api import (
    PricedLine,
    compute_totals,
    lock_lines,
    remove_lines,
    valid_id,
)
from commerce_catalog import api as catalog
from sqlalchemy import ColumnElement, Select, Table, bindparam, false, func, insert, select, update
from sqlalchemy.orm import joinedload

from commerce_kernel import Kernel
from commerce_kernel.db import rfc3339, rowcount, utcnow_seconds, with_retries
from commerce_kernel.errors import Conflict, NotFound, UnprocessableEntity
from commerce_kernel.identity import Account
from commerce_kernel.money import MAX_DIGITS, format_money, quantum
from commerce_orders import hookspecs, idempotency, outbox
from commerce_orders.models import MailOutboxRow, Order, OrderLine, OrderStatus
from commerce_orders.schemas import AdjustmentData, OrderData, OrderWithAccount
from commerce_orders.settings import OrdersSettings

logger = logging.getLogger("commerce.orders")

S = OrderStatus
# Where an order may go from each status; everything else is a 409.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}
CUSTOMER_MAY_CANCEL = frozenset({S.PENDING})
ADMIN_MAY_CANCEL = frozenset(s for s, nexts in TRANSITIONS.items() if S.CANCELLED in nexts)


@dataclass(frozen=True)
class Placed:
    """What `place_order` answers: the order, and whether this call placed it."""

    order: OrderData
    created: bool  # False: an Idempotency-Key retry answered with the first order


def order_out(
    order: Order,
    lines: Sequence[OrderLine | PricedLine],
    customer_email: str,
    *,
    status: str | None = None,
    updated_at: datetime | None = None,
) -> OrderData:
    """The API representation; `lines` are OrderLines or PricedLines (same fields). `status`
    and `updated_at` override the row's (a change written with a bulk UPDATE)."""
    c = order.currency
    return {
        "id": order.id,
        "status": order.status if status is None else status,
        "customer": {"id": order.account_id, "email": customer_email},
        "items": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": format_money(line.unit_price, c),
                "quantity": line.quantity,
                "line_total": format_money(line.line_total, c),
            }
            for line in lines
        ],
        "subtotal": format_money(order.subtotal, c),
        # The JSON column holds exactly what `Adjustment.to_dict` wrote when it was placed.
        "adjustments": cast(list[AdjustmentData], list(order.adjustments)),
        "total": format_money(order.total, c),
        "currency": c,
        "created_at": rfc3339(order.created_at),
        "updated_at": rfc3339(order.updated_at if updated_at is None else updated_at),
    }


def _with_account(order: OrderData, account_id: int) -> OrderWithAccount:
    return {**order, "account_id": account_id}


def _merge(lines: Sequence[tuple[int, int]]) -> dict[int, int]:
    """One entry per product (first-seen order), quantities added up."""
    merged: dict[int, int] = {}
    for product_id, quantity in lines:
        merged[product_id] = merged.get(product_id, 0) + quantity
    return merged


async def place_order(
    kernel: Kernel,
    account_id: int,
    items: Sequence[tuple[int, int]] | None = None,
    *,
    idempotency_key: str | None = None,
) -> Placed:
    """Place an order from `items` `[(product_id, quantity)]`, or from the cart when None.

    All or nothing, in one transaction: stock taken (the catalog's stock strategy),
    lines and prices snapshotted, adjustments priced (`cart_adjustments`), sold counts raised,
    the ordered cart lines removed, a confirmation mail written to the outbox, the idempotency
    key marked done, the `order_placed` event recorded. Deadlocks and lock timeouts re-run the
    transaction. After commit: `order_placed` is announced and the mail task enqueued.
    """
    items_list = None if items is None else [(int(p), int(q)) for p, q in items]
    claim = None
    if idempotency_key is not None:
        req_hash = idempotency.request_hash(items_list)
        result = await idempotency.claim_key(kernel, account_id, idempotency_key, req_hash)
        if isinstance(result, int):
            return Placed(await get_order(kernel, result, account_id=account_id), created=False)
        claim = result
    tries = kernel.section(OrdersSettings).place_order_tries
    try:
        order, outbox_id = await with_retries(
            lambda: _place(kernel, account_id, items_list, claim), tries=tries
        )
    except Exception:
        if claim is not None:
            await idempotency.release(kernel, claim)
        raise
    await outbox.enqueue(kernel, outbox_id)
    return Placed(order, created=True)


async def _place(
    kernel: Kernel,
    account_id: int,
    items: list[tuple[int, int]] | None,
    claim: idempotency.Claim | None,
) -> tuple[OrderData, int]:
    async with kernel.db.transaction() as session:
        cart_item_ids: list[int] = []
        if items is None:
            locked = await lock_lines(session, account_id)
            if not locked:
                raise Conflict("The cart is empty.")
            cart_item_ids = [item_id for item_id, _, _ in locked]
            wanted = _merge([(product_id, qty) for _, product_id, qty in locked])
        else:
            wanted = _merge(items)

        sale = await catalog.sell(kernel, session, list(wanted.items()))
        if sale.missing:
            raise NotFound(_missing_products(sale.missing), product_ids=sale.missing)
        if sale.shortfalls:
            raise Conflict("Not enough stock for some lines.", lines=sale.shortfalls)
        products = sale.products

        priced = [
            PricedLine(p, products[p].sku, products[p].name, products[p].price, qty)
            for p, qty in wanted.items()
        ]
        totals = await compute_totals(kernel, session, account_id, priced, placing=True)
        too_large = [line.line_total for line in priced] + [totals.subtotal, totals.total]
        if any(abs(amount) >= MAX_AMOUNT for amount in too_large):
            # The money columns hold 12 digits before the point: refuse, never round.
            raise UnprocessableEntity(
                f"The order comes to more than the largest amount an order can record "
                f"({format_money(MAX_AMOUNT - quantum(totals.currency), totals.currency)}).",
                errors=[{"loc": ["body", "items"], "msg": "the total is too large"}],
            )
        now = utcnow_seconds()
        order = Order(
            account_id=account_id,
            status=S.PENDING.value,
            currency=totals.currency,
            subtotal=totals.subtotal,
            adjustments=[a.to_dict(totals.currency) for a in totals.adjustments],
            total=totals.total,
            created_at=now,
            updated_at=now,
        )
        # Core INSERTs (no unit of work); the order's one also answers the customer's email.
        values = _order_values(order)
        order.id, email = (await session.execute(_INSERT_ORDER, values)).one()
        await session.execute(
            _INSERT_LINE,
            [
                {
                    "order_id": order.id,
                    "product_id": line.product_id,
                    "sku": line.sku,
                    "name": line.name,
                    "unit_price": line.unit_price,
                    "quantity": line.quantity,
                    "line_total": line.line_total,
                }
                for line in priced
            ],
        )
        await remove_lines(session, account_id, cart_item_ids)
        mail_id = (
            await session.execute(
                _INSERT_MAIL,
                {"order_id": order.id, "kind": outbox.PLACED, "data": {}, "created_at": now},
            )
        ).scalar_one()
        if claim is not None:
            await idempotency.mark_done(session, claim, order.id)
        out = order_out(order, priced, email or "")
        data = _with_account(out, account_id)
        await kernel.hooks.call(
            hookspecs.order_recording, kernel=kernel, session=session, order=data
        )
        await kernel.events.record(session, hookspecs.order_placed, order=data)
        return out, mail_id


_ORDERS = cast(Table, Order.__table__)
_INSERT_ORDER = insert(_ORDERS).returning(
    _ORDERS.c.id,
    select(Account.email).where(Account.id == bindparam("customer")).scalar_subquery(),
)
_INSERT_LINE = insert(cast(Table, OrderLine.__table__))
_MAIL = cast(Table, MailOutboxRow.__table__)
_INSERT_MAIL = insert(_MAIL).values(attempts=0).returning(_MAIL.c.id)


def _order_values(order: Order) -> dict[str, object]:
    values = {c.key: getattr(order, c.key) for c in _ORDERS.columns if c.key != "id"}
    return {**values, "customer": order.account_id}


def _missing_products(ids: Sequence[int]) -> str:
    """The catalog's and the cart's wording: "Product 13 does not exist."."""
    if len(ids) == 1:
        return f"Product {ids[0]} does not exist."
    return f"Products {', '.join(map(str, ids))} do not exist."


MAX_AMOUNT = Decimal(10) ** MAX_DIGITS
"""Amounts must stay below this: the money columns are Numeric(14, 2)."""


# --- reading -----------------------------------------------------------------------------------


def _orders_with_customers() -> Select[Order, str]:
    """Orders with their lines and their customer's email, in one statement (the lines are
    joined, so a page of orders costs one query however many orders and lines it has)."""
    return (
        select(Order, Account.email)
        .join(Account, Account.id == Order.account_id)
        .options(joinedload(Order.lines))
    )


async def get_order(kernel: Kernel, order_id: int, *, account_id: int | None = None) -> OrderData:
    """One order; with `account_id`, only if it is theirs (else 404, like a missing one)."""
    if not valid_id(order_id):
        raise NotFound(f"Order {order_id} does not exist.")
    stmt = _orders_with_customers().where(Order.id == order_id)
    if account_id is not None:
        stmt = stmt.where(Order.account_id == account_id)
    async with kernel.db.session() as session:
        row = (await session.execute(stmt)).unique().one_or_none()
    if row is None:
        raise NotFound(f"Order {order_id} does not exist.")
    order, email = row
    return order_out(order, order.lines, email)


async def list_orders(
    kernel: Kernel,
    *,
    account_id: int | None,
    status: OrderStatus | None,
    offset: int,
    limit: int,
    customer_email: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[int, list[OrderData]]:
    """Newest first: one count and one query. `account_id` None means every customer's
    (admins); `customer_email` (canonical form) picks the account with that email;
    `created_after` is inclusive and `created_before` exclusive (aware datetimes)."""
    conditions: list[ColumnElement[bool]] = []
    if account_id is not None:
        conditions.append(Order.account_id == account_id if valid_id(account_id) else false())
    if customer_email is not None:
        owner = select(Account.id).where(Account.email == customer_email).scalar_subquery()
        conditions.append(Order.account_id == owner)
    if status is not None:
        conditions.append(Order.status == status.value)
    if created_after is not None:
        conditions.append(Order.created_at >= created_after)
    if created_before is not None:
        conditions.append(Order.created_at < created_before)
    async with kernel.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Order).where(*conditions))
        rows = (
            await session.execute(
                _orders_with_customers()
                .where(*conditions)
                .order_by(Order.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).unique()
        return int(count or 0), [order_out(o, o.lines, email) for o, email in rows]


# --- life cycle --------------------------------------------------------------------------------


class _Raced(Exception):
    """The status changed between reading and updating: decide again on the new one."""


def _life_cycle_refusal(old: str, new: OrderStatus) -> str:
    return f"An order that is {old} cannot become {new.value}."


def _customer_cancel_refusal(old: str, new: OrderStatus) -> str:
    # Not the life cycle's wording: an admin may still cancel a paid order.
    return f"Customers may cancel only pending orders; this order is {old}."


async def change_status(kernel: Kernel, order_id: int, new_status: OrderStatus) -> OrderData:
    """An admin moves an order along its life cycle (TRANSITIONS); anything else is 409."""
    allowed_from = frozenset(s for s, nexts in TRANSITIONS.items() if new_status in nexts)
    return await _move(
        kernel, order_id, new_status, allowed_from, owner_id=None, refusal=_life_cycle_refusal
    )


async def cancel_order(
    kernel: Kernel, order_id: int, *, account_id: int, is_admin: bool
) -> OrderData:
    """Cancel: the owner while pending, an admin while pending or paid. Stock and sold
    counts are given back exactly once (the status update is conditional). A refusal (409)
    names the rule that applies to the caller: the customer's, or the life cycle's."""
    if is_admin:
        return await _move(
            kernel,
            order_id,
            S.CANCELLED,
            ADMIN_MAY_CANCEL,
            owner_id=None,
            refusal=_life_cycle_refusal,
        )
    return await _move(
        kernel,
        order_id,
        S.CANCELLED,
        CUSTOMER_MAY_CANCEL,
        owner_id=account_id,
        refusal=_customer_cancel_refusal,
    )


async def _move(
    kernel: Kernel,
    order_id: int,
    new: OrderStatus,
    allowed_from: frozenset[OrderStatus],
    owner_id: int | None,
    refusal: Callable[[str, OrderStatus], str],
) -> OrderData:
    if not valid_id(order_id):
        raise NotFound(f"Order {order_id} does not exist.")

    async def attempt() -> tuple[OrderData, int]:
        async with kernel.db.transaction() as session:
            stmt = _orders_with_customers().where(Order.id == order_id)
            if owner_id is not None:
                stmt = stmt.where(Order.account_id == owner_id)
            row = (await session.execute(stmt)).unique().one_or_none()
            if row is None:
                raise NotFound(f"Order {order_id} does not exist.")
            order, email = row
            old = order.status
            if old not in allowed_from:
                raise Conflict(
                    refusal(old, new),
                    status_now=old,
                    requested=new.value,
                    # The statuses this caller could have made that move from.
                    allowed_from=[s.value for s in OrderStatus if s in allowed_from],
                )
            now = utcnow_seconds()
            # Conditional on the status we read: of two concurrent moves only one matches,
            # so stock is given back once however many cancels race.
            moved = await session.execute(
                update(Order)
                .where(Order.id == order.id, Order.status == old)
                .values(status=new.value, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if rowcount(moved) != 1:
                raise _Raced
            if new is S.CANCELLED:
                units = _merge([(line.product_id, line.quantity) for line in order.lines])
                await catalog.unsell(kernel, session, list(units.items()))
            mail = MailOutboxRow(
                order_id=order.id,
                kind=outbox.STATUS_CHANGED,
                data={"old": old, "new": new.value},
                created_at=now,
                attempts=0,
            )
            session.add(mail)
            await session.flush()
            out = order_out(order, order.lines, email, status=new.value, updated_at=now)
            data = _with_account(out, order.account_id)
            await kernel.hooks.call(
                hookspecs.order_status_changing,
                kernel=kernel,
                session=session,
                order=data,
                old_status=old,
                new_status=new.value,
            )
            await kernel.events.record(
                session,
                hookspecs.order_status_changed,
                order=data,
                old_status=old,
                new_status=new.value,
            )
            return out, mail.id

    for _ in range(5):
        try:
            out, mail_id = await with_retries(attempt)
            break
        except _Raced:
            continue
    else:  # pragma: no cover - five concurrent changes in a row
        raise Conflict("The order is being changed by someone else; retry.")
    await outbox.enqueue(kernel, mail_id)
    return out
