"""The cart's HTTP endpoints: parse, call the service, answer."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from commerce_cart import service
from commerce_cart.schemas import CartItemIn, CartItemOut, CartOut, CartTotalOut, QuantityIn
from commerce_kernel.identity import customer
from commerce_kernel.routing import Call, Link, api_route, reply, routes_from

TAGS = ["cart"]


@api_route(
    "/api/cart/",
    guard=customer,
    response=CartOut,
    summary="The signed-in customer's cart",
    tags=TAGS,
)
async def get_cart(call: Call) -> Any:
    """Every line at the catalog's current price; `items_count` counts units."""
    return await service.view_cart(call.kernel, call.account_id)


@api_route(
    "/api/cart/",
    "POST",
    guard=customer,
    body=CartItemIn,
    response=CartItemOut,
    status=201,
    summary="Add a product to the cart",
    tags=TAGS,
    responses={
        200: "The product was already in the cart: its quantity grew",
        201: "A new cart line",
        404: "Unknown or inactive product",
        409: "The line would hold more than is in stock",
    },
    links=[
        # A product the catalog just created goes into the cart; the line's id feeds its own.
        Link(
            source="create_product",
            request_body={"product_id": "$response.body#/id", "quantity": 1},
        ),
        Link(target="change_quantity", parameters={"id": "$response.body#/id"}),
        Link(target="remove_from_cart", parameters={"id": "$response.body#/id"}),
    ],
)
async def add_to_cart(call: Call) -> Any:
    """Adds `quantity` units; adding a product already in the cart adds to its line (200).
    The whole line is checked against the product's stock."""
    item, created = await service.add_item(
        call.kernel, call.account_id, call.body.product_id, call.body.quantity
    )
    return reply(item, 201 if created else 200)


@api_route(
    "/api/cart/{id:int}/",
    "PATCH",
    guard=customer,
    body=QuantityIn,
    response=CartItemOut,
    summary="Change a cart line's quantity",
    tags=TAGS,
    responses={404: "No such line in your cart", 409: "More than is in stock"},
)
async def change_quantity(call: Call) -> Any:
    return await service.set_quantity(
        call.kernel, call.account_id, call.path["id"], call.body.quantity
    )


@api_route(
    "/api/cart/{id:int}/",
    "DELETE",
    guard=customer,
    status=204,
    summary="Remove a line from the cart",
    tags=TAGS,
    responses={204: "Removed", 404: "No such line in your cart"},
)
async def remove_from_cart(call: Call) -> Any:
    await service.remove_item(call.kernel, call.account_id, call.path["id"])
    return None


@api_route(
    "/api/cart/total/",
    guard=customer,
    response=CartTotalOut,
    summary="The cart's total with discounts, tax and other adjustments",
    tags=TAGS,
)
async def cart_total(call: Call) -> Any:
    """`total = subtotal + sum(adjustments)`; adjustments come from plugins implementing the
    `cart_adjustments` hook (none installed: `total == subtotal`)."""
    totals = await service.cart_totals(call.kernel, call.account_id)
    return service.totals_out(totals)


ROUTES = [get_cart, add_to_cart, change_quantity, remove_from_cart, cart_total]


def build_routes() -> list[BaseRoute]:
    return [*routes_from(*ROUTES)]
