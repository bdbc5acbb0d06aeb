"""Promotions: the admin's promotions, the codes a customer applies to their cart, and the
discounts priced into every total (`cart_adjustments`), claimed inside the order's own
transaction, recorded with it and given back when it is cancelled.

Usage limits are decided by conditional UPDATEs (`used < usage_limit`, and the customer's own
counter `used < per_customer_limit`) in the order's transaction: each matching UPDATE holds the
row until the order commits, so across any number of server processes no more orders than the
limit carry a promotion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from commerce_cart.api import PricedLine, cart_lines, compute_totals
from commerce_orders.api import OrderWithAccount
from pydantic import ValidationError
from sqlalchemy import bindparam, delete, func, insert, null, or_, select, union_all, update
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from commerce_kernel import (
    MAX_INT_ID,
    Conflict,
    Kernel,
    NotFound,
    UnprocessableEntity,
    utcnow,
    utcnow_seconds,
)
from commerce_kernel.db import retry_on_conflict, rowcount
from commerce_kernel.money import format_money
from commerce_promotions import pricing
from commerce_promotions.models import AppliedCode, CustomerUse, Kind, Promotion, Redemption
from commerce_promotions.pricing import Offer, Refusal
from commerce_promotions.schemas import PromotionIn, PromotionOut, normalize_code

# Where `cart_adjustments(placing=True)` leaves the uses it claimed for `order_recording`,
# which runs later in the same session (the order's transaction).
CLAIMED = "commerce_promotions.claimed"
APPLIED = "commerce_promotions.applied"
"""session.info: the ids of the applied codes the order was priced with."""


# --- admin -------------------------------------------------------------------------------------


def default_label(data: PromotionIn) -> str:
    value = data.value
    if data.kind == Kind.PERCENTAGE and value is not None:
        return f"{pricing.percent(value)}% off"
    if data.kind == Kind.PRODUCT_PERCENTAGE and value is not None:
        return f"{pricing.percent(value)}% off selected products"
    if data.kind == Kind.FIXED and value is not None:
        return f"{value} off"
    if data.kind == Kind.PRODUCT_FIXED and value is not None:
        return f"{value} off each selected product"
    return f"Buy {data.buy_quantity} get {data.get_quantity} free"


def _fields(data: PromotionIn) -> dict[str, Any]:
    fields = data.model_dump()
    fields["label"] = data.label or default_label(data)
    fields["kind"] = data.kind.value
    return fields


def _code_taken(code: str | None) -> Conflict:
    return Conflict(f"Another promotion has the code {code}.", code=code)


async def create_promotion(kernel: Kernel, data: PromotionIn) -> PromotionOut:
    now = utcnow_seconds()  # shown to clients: whole seconds on every backend
    try:
        async with kernel.db.transaction() as session:
            promotion = Promotion(**_fields(data), used=0, created_at=now, updated_at=now)
            session.add(promotion)
            await session.flush()
            return PromotionOut.model_validate(promotion)
    except IntegrityError:
        raise _code_taken(data.code) from None


async def list_promotions(
    kernel: Kernel, *, offset: int, limit: int
) -> tuple[int, list[PromotionOut]]:
    async with kernel.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Promotion))
        rows = await session.scalars(
            select(Promotion).order_by(Promotion.id.desc()).offset(offset).limit(limit)
        )
        return int(count or 0), [PromotionOut.model_validate(p) for p in rows]


async def _promotion(session: AsyncSession, promotion_id: int, *, lock: bool = False) -> Promotion:
    stmt = select(Promotion).where(Promotion.id == promotion_id)
    if lock:
        stmt = stmt.with_for_update()
    found = await session.scalar(stmt) if 0 < promotion_id <= MAX_INT_ID else None
    if found is None:
        raise NotFound(f"Promotion {promotion_id} does not exist.")
    return found


async def get_promotion(kernel: Kernel, promotion_id: int) -> PromotionOut:
    async with kernel.db.session() as session:
        return PromotionOut.model_validate(await _promotion(session, promotion_id))


EDITABLE = tuple(name for name in PromotionIn.model_fields)


def default_label_of(promotion: Promotion) -> str:
    """The label a promotion would have been given had the admin named none."""
    data = PromotionIn.model_construct(
        kind=Kind(promotion.kind),
        value=promotion.value,
        buy_quantity=promotion.buy_quantity,
        get_quantity=promotion.get_quantity,
    )
    return default_label(data)


async def update_promotion(
    kernel: Kernel, promotion_id: int, changes: dict[str, Any]
) -> PromotionOut:
    """Change the fields given; the promotion as changed is validated whole (422). A label
    that was derived from the kind and value follows them; one an admin chose stays."""
    try:
        async with kernel.db.transaction() as session:
            promotion = await _promotion(session, promotion_id, lock=True)
            merged = {name: getattr(promotion, name) for name in EDITABLE}
            if "label" not in changes and promotion.label == default_label_of(promotion):
                merged["label"] = None
            merged.update(changes)
            try:
                data = PromotionIn.model_validate(merged)
            except ValidationError as exc:
                raise UnprocessableEntity(
                    "The promotion as changed is not valid.",
                    errors=[
                        {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]}
                        for e in exc.errors(include_url=False)
                    ],
                ) from None
            for name, value in _fields(data).items():
                setattr(promotion, name, value)
            promotion.updated_at = utcnow_seconds()
            await session.flush()
            return PromotionOut.model_validate(promotion)
    except IntegrityError:
        raise _code_taken(changes.get("code")) from None


async def deactivate_promotion(kernel: Kernel, promotion_id: int) -> None:
    """It applies nowhere from now on; its row and redemptions stay (PATCH active=true
    revives it)."""
    async with kernel.db.transaction() as session:
        promotion = await _promotion(session, promotion_id, lock=True)
        promotion.active = False
        promotion.updated_at = utcnow_seconds()


# --- what applies to a set of lines ------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """The promotions that could touch one customer's total: the active automatic ones (by
    id) and the codes in their cart (in the order they were applied)."""

    automatic: list[Promotion]
    codes: list[Promotion]
    customer_uses: dict[int, int]


def _candidates_statement() -> Any:
    # One round trip for both: the active automatic promotions (no applied-code id) and the
    # promotions of the customer's applied codes. Built once (every cart total and order runs
    # it; building the union and its column proxies cost more than sending it).
    either = union_all(
        select(Promotion, null().label("applied_id")).where(
            Promotion.code.is_(None), Promotion.active.is_(True)
        ),
        select(Promotion, AppliedCode.id.label("applied_id"))
        .join(AppliedCode, AppliedCode.promotion_id == Promotion.id)
        .where(AppliedCode.account_id == bindparam("account_id")),
    ).subquery()
    return select(aliased(Promotion, either), either.c.applied_id)


_CANDIDATES = _candidates_statement()


async def candidates(
    session: AsyncSession, account_id: int, *, also: Sequence[int] = ()
) -> Candidates:
    """`also`: more promotions whose uses by this customer to read (one being applied)."""
    pairs = (await session.execute(_CANDIDATES, {"account_id": account_id})).all()
    automatic = sorted((p for p, applied in pairs if applied is None), key=lambda p: p.id)
    applied_codes = sorted((applied, p) for p, applied in pairs if applied is not None)
    codes = [p for _, p in applied_codes]
    session.info[APPLIED] = [applied for applied, _ in applied_codes]
    ids = [*(p.id for p in [*automatic, *codes]), *also]
    uses: dict[int, int] = {}
    if ids:
        rows = await session.execute(
            select(CustomerUse.promotion_id, CustomerUse.used).where(
                CustomerUse.account_id == account_id, CustomerUse.promotion_id.in_(ids)
            )
        )
        uses = {promotion_id: used for promotion_id, used in rows}
    return Candidates(automatic, codes, uses)


def _refusal(
    kernel: Kernel,
    found: Candidates,
    promotion: Promotion,
    subtotal: Decimal,
    lines: Sequence[PricedLine],
) -> Refusal | None:
    return pricing.refusal(
        promotion,
        now=utcnow(),
        customer_uses=found.customer_uses.get(promotion.id, 0),
        subtotal=subtotal,
        lines=lines,
        currency=kernel.settings.currency,
    )


def _refused(code: str, why: Refusal) -> Conflict:
    return Conflict(why.detail, code=code, reason=why.reason)


async def _claim(session: AsyncSession, promotion: Promotion, account_id: int) -> Refusal | None:
    """Take one use of the promotion for this customer's order, or answer why not. Both
    counters are raised by conditional UPDATEs: the row each matches stays locked until the
    order's transaction ends, so a concurrent order waits and then sees the raised count."""
    taken = await session.execute(
        update(Promotion)
        .where(
            Promotion.id == promotion.id,
            or_(Promotion.usage_limit.is_(None), Promotion.used < Promotion.usage_limit),
        )
        .values(used=Promotion.used + 1)
        .execution_options(synchronize_session=False)
    )
    name = promotion.code or promotion.label
    if rowcount(taken) != 1:
        return Refusal("exhausted", f"{name} has been used up.")
    # The row is ours until commit: its per-customer limit cannot change under us.
    limit = await session.scalar(
        select(Promotion.per_customer_limit).where(Promotion.id == promotion.id)
    )
    first_use = {"promotion_id": promotion.id, "account_id": account_id, "used": 0}
    if session.get_bind().dialect.name == "mysql":
        # Not INSERT IGNORE: its duplicate-key warning costs a SHOW WARNINGS round trip (and a
        # log line) under asyncmy; updating the column to itself is a no-op that warns of nothing.
        known = mysql.insert(CustomerUse).values(first_use)
        await session.execute(known.on_duplicate_key_update(used=known.table.c.used))
    else:
        await session.execute(insert(CustomerUse).values(first_use).prefix_with("OR IGNORE"))
    mine = await session.execute(
        update(CustomerUse)
        .where(
            CustomerUse.promotion_id == promotion.id,
            CustomerUse.account_id == account_id,
            *([] if limit is None else [CustomerUse.used < limit]),
        )
        .values(used=CustomerUse.used + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(mine) != 1:
        await _release(session, promotion.id, None)
        uses = "1 use" if limit == 1 else f"{limit} uses"
        return Refusal(
            "per_customer_limit_reached",
            f"You have already used {name} ({uses} per customer).",
        )
    return None


async def _release(session: AsyncSession, promotion_id: int, account_id: int | None) -> None:
    """Give one use back (to the customer's counter too, with `account_id`)."""
    await session.execute(
        update(Promotion)
        .where(Promotion.id == promotion_id, Promotion.used > 0)
        .values(used=Promotion.used - 1)
        .execution_options(synchronize_session=False)
    )
    if account_id is not None:
        await session.execute(
            update(CustomerUse)
            .where(
                CustomerUse.promotion_id == promotion_id,
                CustomerUse.account_id == account_id,
                CustomerUse.used > 0,
            )
            .values(used=CustomerUse.used - 1)
            .execution_options(synchronize_session=False)
        )


async def price(
    kernel: Kernel,
    session: AsyncSession,
    account_id: int,
    lines: Sequence[PricedLine],
    subtotal: Decimal,
    placing: bool,
    payable: Decimal,
) -> list[Offer]:
    """The promotions taken into this total: automatic ones first, then the cart's codes.

    A quote (`placing` False) leaves out whatever does not apply. Placing an order refuses it
    (409, `reason`) when a code in the cart does not apply, or loses the race for the last
    use; an automatic promotion that loses that race is simply left out. Placing claims a use
    of each promotion taken, in `session` (the order's transaction)."""
    found = await candidates(session, account_id)
    automatic = [p for p in found.automatic if not _refusal(kernel, found, p, subtotal, lines)]
    codes: list[Promotion] = []
    for promotion in found.codes:
        why = _refusal(kernel, found, promotion, subtotal, lines)
        if why is None:
            codes.append(promotion)
        elif placing:
            raise _refused(pricing.adjustment_code(promotion), why)
    currency = kernel.settings.currency
    left_out: set[int] = set()
    while True:
        eligible = [p for p in [*automatic, *codes] if p.id not in left_out]
        offers = pricing.compose(eligible, lines, payable, currency)
        if not placing:
            return offers
        claimed: list[Offer] = []
        lost: tuple[Promotion, Refusal] | None = None
        for offer in offers:
            why = await _claim(session, offer.promotion, account_id)
            if why is not None:
                lost = (offer.promotion, why)
                break
            claimed.append(offer)
        if lost is None:
            session.info[CLAIMED] = [(o.promotion.id, o.code) for o in claimed]
            return offers
        for offer in claimed:  # this combination is off: give its uses back, choose again
            await _release(session, offer.promotion.id, account_id)
        promotion, why = lost
        if promotion.code is not None:
            raise _refused(promotion.code, why)
        left_out.add(promotion.id)


# --- with the order ----------------------------------------------------------------------------


async def record(session: AsyncSession, order: OrderWithAccount) -> None:
    """In the order's transaction: a redemption for each promotion the order carries; a use
    claimed for an adjustment a later plugin dropped is given back. The customer's applied
    codes were for this order: they are cleared."""
    claimed: list[tuple[int, str]] = session.info.pop(CLAIMED, [])
    carried = {a["code"]: a["amount"] for a in order["adjustments"]}
    account_id = order["account_id"]
    for promotion_id, code in claimed:
        if code not in carried:
            await _release(session, promotion_id, account_id)
            continue
        session.add(
            Redemption(
                promotion_id=promotion_id,
                order_id=order["id"],
                account_id=account_id,
                code=code,
                amount=-Decimal(carried[code]),
                created_at=utcnow(),
            )
        )
    # The codes this order was priced with are used up; one applied meanwhile stays for the
    # next order (when this order's codes were not read here, all of them go).
    applied: list[int] | None = session.info.pop(APPLIED, None)
    if applied is None:
        await session.execute(delete(AppliedCode).where(AppliedCode.account_id == account_id))
    elif applied:
        await session.execute(
            delete(AppliedCode).where(
                AppliedCode.account_id == account_id, AppliedCode.id.in_(applied)
            )
        )


async def give_back(session: AsyncSession, order: OrderWithAccount) -> None:
    """In the cancellation's transaction: every use the order took is given back, once (the
    redemptions are marked by a conditional UPDATE, and the orders plugin moves an order to
    `cancelled` only once)."""
    rows = list(
        await session.execute(
            select(Redemption.id, Redemption.promotion_id).where(
                Redemption.order_id == order["id"], Redemption.returned_at.is_(None)
            )
        )
    )
    for redemption_id, promotion_id in rows:
        marked = await session.execute(
            update(Redemption)
            .where(Redemption.id == redemption_id, Redemption.returned_at.is_(None))
            .values(returned_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if rowcount(marked) == 1:
            await _release(session, promotion_id, order["account_id"])


# --- the customer's codes ----------------------------------------------------------------------


async def _cart_lines(session: AsyncSession, account_id: int) -> list[PricedLine]:
    """The customer's cart at the catalog's current prices, as the cart prices it."""
    return await cart_lines(session, account_id)


async def _by_code(session: AsyncSession, code: str) -> Promotion | None:
    try:
        normalized = normalize_code(code)
    except ValueError:
        return None
    return await session.scalar(select(Promotion).where(Promotion.code == normalized))


def _unknown(code: str) -> NotFound:
    return NotFound(f"There is no promotion code {code.strip()}.", reason="unknown")


async def _view(kernel: Kernel, session: AsyncSession, account_id: int) -> list[dict[str, Any]]:
    """Each code in the cart: whether the total takes it now, and if not, why not."""
    lines = await _cart_lines(session, account_id)
    totals = await compute_totals(kernel, session, account_id, lines)
    taken = {a.code: a.amount for a in totals.adjustments}
    found = await candidates(session, account_id)
    currency = kernel.settings.currency
    out: list[dict[str, Any]] = []
    for promotion in found.codes:
        code = pricing.adjustment_code(promotion)
        entry: dict[str, Any] = {
            "code": code,
            "label": promotion.label,
            "applies": False,
            "amount": None,
            "reason": None,
            "detail": None,
        }
        if code in taken:
            entry.update(applies=True, amount=format_money(taken[code], currency))
        elif (why := _refusal(kernel, found, promotion, totals.subtotal, lines)) is not None:
            entry.update(reason=why.reason, detail=why.detail)
        else:
            entry.update(
                reason="not_combined",
                detail=f"{code} is not taken: promotions that cannot be combined with it "
                "take more off.",
            )
        out.append(entry)
    return out


async def applied_codes(kernel: Kernel, account_id: int) -> list[dict[str, Any]]:
    # A quote's session: never committed, as `cart_adjustments(placing=False)` expects.
    async with kernel.db.session() as session:
        return await _view(kernel, session, account_id)


async def apply_code(kernel: Kernel, account_id: int, code: str) -> tuple[dict[str, Any], bool]:
    """Add a code to the customer's cart if it applies to the cart as it is: 404 for an
    unknown code, 409 with `reason` for one that does not apply. Applying it again is a
    no-op (False)."""

    async def attempt() -> tuple[str, bool]:
        async with kernel.db.transaction() as session:
            promotion = await _by_code(session, code)
            if promotion is None or promotion.code is None:
                raise _unknown(code)
            already = await session.scalar(
                select(AppliedCode.id).where(
                    AppliedCode.account_id == account_id,
                    AppliedCode.promotion_id == promotion.id,
                )
            )
            if already is None:
                lines = await _cart_lines(session, account_id)
                found = await candidates(session, account_id, also=[promotion.id])
                subtotal = sum((line.line_total for line in lines), Decimal(0))
                why = _refusal(kernel, found, promotion, subtotal, lines)
                if why is not None:
                    raise _refused(promotion.code, why)
                session.add(
                    AppliedCode(
                        account_id=account_id, promotion_id=promotion.id, created_at=utcnow()
                    )
                )
            return promotion.code, already is None

    applied, created = await retry_on_conflict(attempt)
    views = await applied_codes(kernel, account_id)
    view = next((v for v in views if v["code"] == applied), None)
    if view is None:  # removed again in between
        raise NotFound(f"The code {applied} is not in your cart.")
    return view, created


async def remove_code(kernel: Kernel, account_id: int, code: str) -> None:
    async with kernel.db.transaction() as session:
        promotion = await _by_code(session, code)
        removed = None
        if promotion is not None:
            removed = await session.execute(
                delete(AppliedCode).where(
                    AppliedCode.account_id == account_id,
                    AppliedCode.promotion_id == promotion.id,
                )
            )
        if removed is None or rowcount(removed) == 0:
            raise NotFound(f"The code {code.strip().upper()} is not in your cart.")
