"""The orders HTTP endpoints: parse, call the service, answer."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from commerce_kernel.errors import Forbidden, UnprocessableEntity
from commerce_kernel.identity import admin, customer, signed_in
from commerce_kernel.pagination import page_response
from commerce_kernel.routing import Call, Link, api_route, reply, routes_from
from commerce_orders import service
from commerce_orders.models import OrderStatus
from commerce_orders.schemas import OrderListQuery, OrderOut, OrderPage, PlaceOrderIn, StatusIn

TAGS = ["orders"]
MAX_KEY_LENGTH = 255
IDEMPOTENCY_KEY = (
    f"Makes retries safe: 1 to {MAX_KEY_LENGTH} printable characters, one per order you mean "
    "to place, kept at least 24 hours per customer. A retry with the same key and body answers "
    "200 with the order it placed; while the first request runs, 409 with `Retry-After`; the "
    "same key with another body, 409. An invalid key is 422."
)


def _idempotency_key(call: Call) -> str | None:
    key = call.request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise UnprocessableEntity(
            "Invalid Idempotency-Key header.",
            errors=[
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": f"must be 1 to {MAX_KEY_LENGTH} printable characters",
                }
            ],
        )
    return key


@api_route(
    "/api/orders/",
    "POST",
    guard=customer,
    body=PlaceOrderIn,
    response=OrderOut,
    status=201,
    summary="Place an order from the cart or from a list of items",
    tags=TAGS,
    headers={"Idempotency-Key": IDEMPOTENCY_KEY},
    responses={
        200: "Idempotency-Key retry: the order this key already placed",
        201: "The order was placed",
        404: "An unknown or retired product",
        409: "Lines short of stock (`lines: [{product_id, requested, available}]`), an empty "
        "cart, an Idempotency-Key still in flight (with Retry-After) or reused with a "
        "different body, or a price adjustment that refused the order (a promotion code that "
        "no longer applies: `code`, `reason`)",
        422: "Invalid fields, an invalid Idempotency-Key header, or a total larger than an "
        "order can record",
        503: "The database is unavailable or too busy; retry (Retry-After)",
    },
    links=[
        # What was just put in the cart is ordered; the new order's id feeds its own operations.
        Link(
            source="add_to_cart",
            request_body={
                "items": [
                    {
                        "product_id": "$response.body#/product_id",
                        "quantity": "$response.body#/quantity",
                    }
                ]
            },
        ),
        *(
            Link(target=op, parameters={"id": "$response.body#/id"})
            for op in ("get_order", "cancel_order", "change_status")
        ),
    ],
)
async def place_order(call: Call) -> Any:
    """Without `items` the cart is ordered and emptied; with `items` the cart is left as it
    is. All or nothing: stock is taken, sold counts rise and the order exists, or nothing
    changed. A confirmation mail follows through the task queue.

    Send an `Idempotency-Key` header (1 to 255 characters, unique per attempt you mean, kept
    for at least 24 hours per customer) to make retries safe: a retry answers 200 with the
    order the key already placed; while the first request is still running, 409 with
    `Retry-After`; the same key with a different body, 409.
    """
    items = call.body.items
    lines = None if items is None else [(i.product_id, i.quantity) for i in items]
    placed = await service.place_order(
        call.kernel, call.account_id, lines, idempotency_key=_idempotency_key(call)
    )
    headers = {"Location": f"/api/orders/{placed.order['id']}/"}
    return reply(placed.order, 201 if placed.created else 200, headers)


@api_route(
    "/api/orders/",
    guard=signed_in,
    query=OrderListQuery,
    response=OrderPage,
    summary="List orders: a customer's own, or (admin token) everyone's",
    tags=TAGS,
    responses={
        403: "A customer token with `customer_id` or `customer_email` (admin-only filters)",
        404: "A page past the end of the results",
        422: "An unknown status, or a timestamp that is not RFC 3339 with an offset",
    },
)
async def list_orders(call: Call) -> Any:
    """Newest first, paginated. Every order carries its `customer` (`id`, `email`).
    Filters combine: `status` (admins work through queues with it), `created_after`
    (inclusive) and `created_before` (exclusive) for anyone's list; admins also filter by
    customer with `customer_id` or `customer_email` (canonical form: `Alice@Example.COM`
    finds `alice@example.com`). A customer's list is only ever their own orders: the
    customer filters answer them 403."""
    q = call.query
    if not call.is_admin and (q.customer_id is not None or q.customer_email is not None):
        raise Forbidden("Only admins may filter orders by customer (customer_id, customer_email).")
    count, results = await service.list_orders(
        call.kernel,
        account_id=q.customer_id if call.is_admin else call.account_id,
        customer_email=q.customer_email,
        status=None if q.status is None else OrderStatus(q.status),
        created_after=q.created_after,
        created_before=q.created_before,
        offset=q.offset,
        limit=q.page_size,
    )
    return page_response(call.request, q, count, results)


@api_route(
    "/api/orders/{id:int}/",
    guard=signed_in,
    response=OrderOut,
    summary="One order (its owner or an admin)",
    tags=TAGS,
    responses={404: "No such order, or not yours"},
)
async def get_order(call: Call) -> Any:
    owner = None if call.is_admin else call.account_id
    return await service.get_order(call.kernel, call.path["id"], account_id=owner)


@api_route(
    "/api/orders/{id:int}/",
    "DELETE",
    guard=signed_in,
    status=204,
    summary="Cancel an order (owner while pending; admin unless shipped or delivered)",
    tags=TAGS,
    responses={
        204: "Cancelled: stock and sold counts given back; the order stays readable",
        404: "No such order, or not yours",
        409: "Not cancellable by you (`status_now`, `allowed_from`): customers may cancel "
        "only pending orders, admins pending or paid ones",
    },
)
async def cancel_order(call: Call) -> Any:
    await service.cancel_order(
        call.kernel,
        call.path["id"],
        account_id=call.account_id,
        is_admin=call.is_admin,
    )
    return None


@api_route(
    "/api/orders/{id:int}/",
    "PATCH",
    guard=admin,
    body=StatusIn,
    response=OrderOut,
    summary="Move an order along pending → paid → shipped → delivered, or cancel it (admin)",
    tags=TAGS,
    responses={
        404: "No such order",
        409: "That move is not allowed from the order's current status "
        "(`status_now`, `allowed_from`)",
        422: "Unknown status",
    },
)
async def change_status(call: Call) -> Any:
    """Cancelling (from pending or paid) gives stock and sold counts back, as DELETE does.
    The customer is mailed about every change."""
    return await service.change_status(call.kernel, call.path["id"], call.body.status)


def build_routes() -> list[BaseRoute]:
    return [*routes_from(place_order, list_orders, get_order, cancel_order, change_status)]
