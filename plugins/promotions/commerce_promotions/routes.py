"""The promotions HTTP endpoints: admins manage promotions, customers apply codes to their
cart. The discounts themselves show in `GET /api/cart/total/` (the cart's adjustments)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from commerce_kernel import (
    Call,
    Link,
    PageQuery,
    admin,
    api_route,
    customer,
    page_response,
    reply,
    routes_from,
)
from commerce_promotions import service
from commerce_promotions.schemas import (
    AppliedCodeOut,
    AppliedCodesOut,
    ApplyCodeIn,
    PromotionIn,
    PromotionOut,
    PromotionPage,
    PromotionPatch,
)

ADMIN_TAGS = ["promotions"]
CART_TAGS = ["cart", "promotions"]
REFUSALS = (
    "The code does not apply to the cart now; `reason` says why: inactive, not_yet_valid, "
    "expired, exhausted, per_customer_limit_reached, minimum_not_met or not_applicable "
    "(a product promotion for none of the cart's products); `code` names it"
)


@api_route(
    "/api/admin/promotions/",
    "POST",
    guard=admin,
    body=PromotionIn,
    response=PromotionOut,
    status=201,
    summary="Create a promotion (a code, or automatic without one)",
    tags=ADMIN_TAGS,
    responses={201: "Created", 409: "Another promotion has this code", 422: "Invalid fields"},
    links=[
        *(
            Link(target=op, parameters={"id": "$response.body#/id"})
            for op in ("get_promotion", "update_promotion", "deactivate_promotion")
        ),
        # (An automatic promotion has no code: that request is a 422, as it should be.)
        Link(target="apply_promotion_code", request_body={"code": "$response.body#/code"}),
    ],
)
async def create_promotion(call: Call) -> Any:
    promotion = await service.create_promotion(call.kernel, call.body)
    return reply(promotion, 201, {"Location": f"/api/admin/promotions/{promotion.id}/"})


@api_route(
    "/api/admin/promotions/",
    guard=admin,
    query=PageQuery,
    response=PromotionPage,
    summary="Every promotion, newest first",
    tags=ADMIN_TAGS,
)
async def list_promotions(call: Call) -> Any:
    query: PageQuery = call.query
    count, rows = await service.list_promotions(
        call.kernel, offset=query.offset, limit=query.page_size
    )
    return page_response(call.request, query, count, rows)


@api_route(
    "/api/admin/promotions/{id:int}/",
    guard=admin,
    response=PromotionOut,
    summary="One promotion",
    tags=ADMIN_TAGS,
    responses={404: "No such promotion"},
)
async def get_promotion(call: Call) -> Any:
    return await service.get_promotion(call.kernel, call.path["id"])


@api_route(
    "/api/admin/promotions/{id:int}/",
    "PATCH",
    guard=admin,
    body=PromotionPatch,
    response=PromotionOut,
    summary="Change some fields of a promotion",
    tags=ADMIN_TAGS,
    responses={
        404: "No such promotion",
        409: "Another promotion has this code",
        422: "Invalid fields, or the promotion as changed is not valid",
    },
)
async def update_promotion(call: Call) -> Any:
    """Only the fields sent change (`null` clears an optional one, such as `ends_at`);
    `{"active": false}` deactivates, `{"active": true}` revives."""
    return await service.update_promotion(call.kernel, call.path["id"], call.body.changes())


@api_route(
    "/api/admin/promotions/{id:int}/",
    "DELETE",
    guard=admin,
    status=204,
    summary="Deactivate a promotion (it stays, with its redemptions)",
    tags=ADMIN_TAGS,
    responses={204: "Deactivated", 404: "No such promotion"},
)
async def deactivate_promotion(call: Call) -> None:
    await service.deactivate_promotion(call.kernel, call.path["id"])


@api_route(
    "/api/cart/promotions/",
    guard=customer,
    response=AppliedCodesOut,
    summary="The codes in the signed-in customer's cart, and whether each applies now",
    tags=CART_TAGS,
)
async def cart_promotions(call: Call) -> Any:
    return {"codes": await service.applied_codes(call.kernel, call.account_id)}


@api_route(
    "/api/cart/promotions/",
    "POST",
    guard=customer,
    body=ApplyCodeIn,
    response=AppliedCodeOut,
    status=201,
    summary="Apply a promotion code to the cart",
    tags=CART_TAGS,
    responses={
        200: "The code was in the cart already",
        201: "Applied: the cart's total takes it into account (`GET /api/cart/total/`)",
        404: "No such code (`reason: unknown`)",
        409: REFUSALS,
    },
    links=[Link(target="remove_promotion_code", parameters={"code": "$response.body#/code"})],
)
async def apply_promotion_code(call: Call) -> Any:
    """The code (any case) is checked against the cart as it is now and kept with the cart
    for the customer's next order, which checks it again: an order whose code no longer
    applies is refused with the same `reason`."""
    view, created = await service.apply_code(call.kernel, call.account_id, call.body.code)
    return reply(view, 201 if created else 200)


@api_route(
    "/api/cart/promotions/{code}/",
    "DELETE",
    guard=customer,
    status=204,
    summary="Remove a promotion code from the cart",
    tags=CART_TAGS,
    responses={204: "Removed", 404: "The code is not in your cart"},
)
async def remove_promotion_code(call: Call) -> None:
    await service.remove_code(call.kernel, call.account_id, call.path["code"])


def build_routes() -> list[BaseRoute]:
    return [
        *routes_from(
            create_promotion,
            list_promotions,
            get_promotion,
            update_promotion,
            deactivate_promotion,
            cart_promotions,
            apply_promotion_code,
            remove_promotion_code,
        )
    ]
