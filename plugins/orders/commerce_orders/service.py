"""Orders: placing one (stock, snapshot, cart, mail outbox in one transaction), reading them,
and moving them through their life cycle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commerce_cart.api import (
    PricedLine,
    compute_totals,
    lock_lines,
    remove_lines,
    valid_id,
)
from commerce_catalog.api import get_products
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from commerce_kernel.db import utcnow, with_retries
from commerce_kernel.errors import Conflict, NotFound
from commerce_kernel.money import format_money
from commerce_orders import idempotency, outbox
from commerce_orders.models import MailOutboxRow, Order, OrderLine, OrderStatus

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
    order: dict[str, Any]
    created: bool  # False: an Idempotency-Key retry answered with the first order


def _now() -> datetime:
    # Whole seconds, as a DATETIME column keeps them (MariaDB truncates, MySQL rounds), so
    # the answer to POST and a later GET show the same timestamps.
    return utcnow().replace(microsecond=0)


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def order_out(order: Order, lines: Sequence[Any], **changes: Any) -> dict[str, Any]:
    """The API representation; `lines` are OrderLines or PricedLines (same fields)."""
    c = order.currency
    out = {
        "id": order.id,
        "status": order.status,
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
        "adjustments": list(order.adjustments),
        "total": format_money(order.total, c),
        "currency": c,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    out.update(changes)
    out["created_at"] = _timestamp(out["created_at"])
    out["updated_at"] = _timestamp(out["updated_at"])
    return out


def _merge(lines: Sequence[tuple[int, int]]) -> dict[int, int]:
    """One entry per product (first-seen order), quantities added up."""
    merged: dict[int, int] = {}
    for product_id, quantity in lines:
        merged[product_id] = merged.get(product_id, 0) + quantity
    return merged


async def place_order(
    kernel: Any,
    account_id: int,
    items: Sequence[tuple[int, int]] | None = None,
    *,
    idempotency_key: str | None = None,
) -> Placed:
    """Place an order from `items` `[(product_id, quantity)]`, or from the cart when None.

    All or nothing, in one transaction: stock taken (`allocate_stock`, conditional updates),
    lines and prices snapshotted, adjustments priced (`cart_adjustments`), sold counts raised,
    the ordered cart lines removed, a confirmation mail written to the outbox, the idempotency
    key marked done. Deadlocks and lock timeouts re-run the transaction. After commit:
    `order_placed` is broadcast and the mail task enqueued.
    """
    items_list = None if items is None else [(int(p), int(q)) for p, q in items]
    claim = None
    if idempotency_key is not None:
        req_hash = idempotency.request_hash(items_list)
        result = await idempotency.claim_key(kernel, account_id, idempotency_key, req_hash)
        if isinstance(result, int):
            return Placed(await get_order(kernel, result, account_id=account_id), created=False)
        claim = result
    tries = kernel.section("orders").place_order_tries
    try:
        order, outbox_id = await with_retries(
            lambda: _place(kernel, account_id, items_list, claim), tries=tries
        )
    except Exception:
        if claim is not None:
            await idempotency.release(kernel, claim)
        raise
    await announce(kernel, "order_placed", order={**order, "account_id": account_id})
    await outbox.enqueue(kernel, outbox_id)
    return Placed(order, created=True)


async def _place(
    kernel: Any,
    account_id: int,
    items: list[tuple[int, int]] | None,
    claim: idempotency.Claim | None,
) -> tuple[dict[str, Any], int]:
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

        products = await get_products(session, [p for p in wanted if valid_id(p)])
        missing = [p for p in wanted if p not in products or not products[p].is_active]
        if missing:
            raise NotFound(
                f"Product {', '.join(map(str, missing))} does not exist or is no longer sold.",
                product_ids=missing,
            )
        shortfalls = await kernel.hooks.call(
            "allocate_stock", session=session, lines=list(wanted.items())
        )
        if shortfalls:
            raise Conflict("Not enough stock for some lines.", lines=shortfalls)

        priced = [
            PricedLine(p, products[p].sku, products[p].name, products[p].price, qty)
            for p, qty in wanted.items()
        ]
        totals = await compute_totals(kernel, session, account_id, priced)
        now = _now()
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
        session.add(order)
        await session.flush()
        session.add_all(
            OrderLine(
                order_id=order.id,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                unit_price=line.unit_price,
                quantity=line.quantity,
                line_total=line.line_total,
            )
            for line in priced
        )
        await kernel.hooks.call("record_units_sold", session=session, changes=dict(wanted))
        await remove_lines(session, account_id, cart_item_ids)
        mail = MailOutboxRow(
            order_id=order.id, kind=outbox.PLACED, data={}, created_at=now, attempts=0
        )
        session.add(mail)
        if claim is not None:
            await idempotency.mark_done(session, claim, order.id)
        await session.flush()
        return order_out(order, priced), mail.id


async def announce(kernel: Any, hook: str, **kwargs: Any) -> None:
    """Broadcast a fact after commit. The hooks are isolated: a failing listener is logged
    by the kernel and the others still hear it; the fact stands."""
    await kernel.hooks.call(hook, kernel=kernel, **kwargs)


# --- reading -----------------------------------------------------------------------------------


async def get_order(kernel: Any, order_id: int, *, account_id: int | None = None) -> dict[str, Any]:
    """One order; with `account_id`, only if it is theirs (else 404, like a missing one)."""
    if not valid_id(order_id):
        raise NotFound(f"Order {order_id} does not exist.")
    stmt = select(Order).options(selectinload(Order.lines)).where(Order.id == order_id)
    if account_id is not None:
        stmt = stmt.where(Order.account_id == account_id)
    async with kernel.db.session() as session:
        order = (await session.execute(stmt)).scalar_one_or_none()
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.")
    return order_out(order, order.lines)


async def list_orders(
    kernel: Any,
    *,
    account_id: int | None,
    status: OrderStatus | None,
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Newest first; `account_id` None means every customer's (admins)."""
    conditions = []
    if account_id is not None:
        conditions.append(Order.account_id == account_id)
    if status is not None:
        conditions.append(Order.status == status.value)
    async with kernel.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Order).where(*conditions))
        orders = (
            await session.execute(
                select(Order)
                .options(selectinload(Order.lines))
                .where(*conditions)
                .order_by(Order.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).scalars()
        return int(count or 0), [order_out(o, o.lines) for o in orders]


# --- life cycle --------------------------------------------------------------------------------


class _Raced(Exception):
    """The status changed between reading and updating: decide again on the new one."""


async def change_status(kernel: Any, order_id: int, new_status: OrderStatus) -> dict[str, Any]:
    """An admin moves an order along its life cycle (TRANSITIONS); anything else is 409."""
    allowed_from = frozenset(s for s, nexts in TRANSITIONS.items() if new_status in nexts)
    return await _move(kernel, order_id, new_status, allowed_from, owner_id=None)


async def cancel_order(
    kernel: Any, order_id: int, *, account_id: int, is_admin: bool
) -> dict[str, Any]:
    """Cancel: the owner while pending, an admin while pending or paid. Stock and sold
    counts are given back exactly once (the status update is conditional)."""
    allowed = ADMIN_MAY_CANCEL if is_admin else CUSTOMER_MAY_CANCEL
    owner = None if is_admin else account_id
    return await _move(kernel, order_id, S.CANCELLED, allowed, owner_id=owner)


async def _move(
    kernel: Any,
    order_id: int,
    new: OrderStatus,
    allowed_from: frozenset[OrderStatus],
    owner_id: int | None,
) -> dict[str, Any]:
    if not valid_id(order_id):
        raise NotFound(f"Order {order_id} does not exist.")

    async def attempt() -> tuple[dict[str, Any], str, int, int]:
        async with kernel.db.transaction() as session:
            stmt = select(Order).options(selectinload(Order.lines)).where(Order.id == order_id)
            if owner_id is not None:
                stmt = stmt.where(Order.account_id == owner_id)
            order = (await session.execute(stmt)).scalar_one_or_none()
            if order is None:
                raise NotFound(f"Order {order_id} does not exist.")
            old = order.status
            if old not in allowed_from:
                raise Conflict(
                    f"An order that is {old} cannot become {new.value}.",
                    status_now=old,
                    requested=new.value,
                )
            now = _now()
            # Conditional on the status we read: of two concurrent moves only one matches,
            # so stock is given back once however many cancels race.
            moved = await session.execute(
                update(Order)
                .where(Order.id == order.id, Order.status == old)
                .values(status=new.value, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:
                raise _Raced
            if new is S.CANCELLED:
                units = _merge([(line.product_id, line.quantity) for line in order.lines])
                await kernel.hooks.call("release_stock", session=session, lines=list(units.items()))
                await kernel.hooks.call(
                    "record_units_sold",
                    session=session,
                    changes={p: -q for p, q in units.items()},
                )
            mail = MailOutboxRow(
                order_id=order.id,
                kind=outbox.STATUS_CHANGED,
                data={"old": old, "new": new.value},
                created_at=now,
                attempts=0,
            )
            session.add(mail)
            await session.flush()
            out = order_out(order, order.lines, status=new.value, updated_at=now)
            return out, old, mail.id, order.account_id

    for _ in range(5):
        try:
            out, old, mail_id, account_id = await with_retries(attempt)
            break
        except _Raced:
            continue
    else:  # pragma: no cover - five concurrent changes in a row
        raise Conflict("The order is being changed by someone else; retry.")
    await announce(
        kernel,
        "order_status_changed",
        order={**out, "account_id": account_id},
        old_status=old,
        new_status=new.value,
    )
    await outbox.enqueue(kernel, mail_id)
    return out
