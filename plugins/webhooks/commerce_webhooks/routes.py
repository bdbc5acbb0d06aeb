"""The webhooks admin API: endpoints, their deliveries, replays."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from commerce_kernel import (
    Call,
    Link,
    PageQuery,
    admin,
    api_route,
    page_response,
    reply,
    routes_from,
)
from commerce_webhooks import service
from commerce_webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    Replayed,
    ReplayIn,
    SecretRotated,
)

TAGS = ["webhooks"]
BASE = "/api/admin/webhooks/endpoints/"
REFUSED = (
    "Invalid fields, or the URL is not an allowed target (not https, or resolving to a "
    "loopback, private, link-local or metadata address): `detail` says which"
)


@api_route(
    BASE,
    "POST",
    guard=admin,
    body=EndpointIn,
    response=EndpointCreated,
    status=201,
    summary="Register a webhook endpoint (its secret is shown only in this answer)",
    tags=TAGS,
    responses={201: "Created", 422: REFUSED},
    links=[
        Link(target=op, parameters={"id": "$response.body#/id"})
        for op in (
            "get_webhook_endpoint",
            "update_webhook_endpoint",
            "delete_webhook_endpoint",
            "rotate_webhook_secret",
            "list_webhook_deliveries",
            "replay_failed_webhooks",
        )
    ],
)
async def create_webhook_endpoint(call: Call) -> Any:
    created = await service.create_endpoint(call.kernel, call.body)
    return reply(created, 201, {"Location": f"{BASE}{created.id}/"})


@api_route(
    BASE,
    guard=admin,
    query=PageQuery,
    response=EndpointPage,
    summary="Every webhook endpoint, newest first",
    tags=TAGS,
)
async def list_webhook_endpoints(call: Call) -> Any:
    query: PageQuery = call.query
    count, rows = await service.list_endpoints(
        call.kernel, offset=query.offset, limit=query.page_size
    )
    return page_response(call.request, query, count, rows)


@api_route(
    BASE + "{id:int}/",
    guard=admin,
    response=EndpointOut,
    summary="One webhook endpoint",
    tags=TAGS,
    responses={404: "No such endpoint"},
)
async def get_webhook_endpoint(call: Call) -> Any:
    return await service.get_endpoint(call.kernel, call.path["id"])


@api_route(
    BASE + "{id:int}/",
    "PATCH",
    guard=admin,
    body=EndpointPatch,
    response=EndpointOut,
    summary="Change a webhook endpoint (URL, event types, description, enabled)",
    tags=TAGS,
    responses={404: "No such endpoint", 422: REFUSED},
)
async def update_webhook_endpoint(call: Call) -> Any:
    return await service.update_endpoint(call.kernel, call.path["id"], call.body.changes())


@api_route(
    BASE + "{id:int}/",
    "DELETE",
    guard=admin,
    status=204,
    summary="Delete a webhook endpoint and its deliveries",
    tags=TAGS,
    responses={204: "Deleted", 404: "No such endpoint"},
)
async def delete_webhook_endpoint(call: Call) -> None:
    await service.delete_endpoint(call.kernel, call.path["id"])


@api_route(
    BASE + "{id:int}/rotate-secret/",
    "POST",
    guard=admin,
    response=SecretRotated,
    summary="Give an endpoint a new secret (the previous one also signs for an overlap)",
    tags=TAGS,
    responses={404: "No such endpoint"},
)
async def rotate_webhook_secret(call: Call) -> Any:
    """The new secret is shown only in this answer. Until `previous_secret_until`
    (WEBHOOKS_SECRET_OVERLAP after now) each delivery carries two signatures, one per
    secret, so the receiver can switch at its own pace."""
    return await service.rotate_secret(call.kernel, call.path["id"])


@api_route(
    BASE + "{id:int}/deliveries/",
    guard=admin,
    query=DeliveryQuery,
    response=DeliveryPage,
    summary="An endpoint's deliveries, newest first (`?status=` filters)",
    tags=TAGS,
    responses={404: "No such endpoint"},
)
async def list_webhook_deliveries(call: Call) -> Any:
    query: DeliveryQuery = call.query
    count, rows = await service.list_deliveries(
        call.kernel, call.path["id"], query.status, offset=query.offset, limit=query.page_size
    )
    return page_response(call.request, query, count, rows)


@api_route(
    BASE + "{id:int}/replay/",
    "POST",
    guard=admin,
    body=ReplayIn,
    response=Replayed,
    summary="Send again every failed delivery of an endpoint created since a time",
    tags=TAGS,
    responses={404: "No such endpoint", 409: "The endpoint is disabled"},
)
async def replay_failed_webhooks(call: Call) -> Any:
    """Each keeps its `webhook-id` and body and starts a fresh retry schedule."""
    return {"replayed": await service.replay_failed(call.kernel, call.path["id"], call.body.since)}


@api_route(
    "/api/admin/webhooks/deliveries/{id:int}/replay/",
    "POST",
    guard=admin,
    response=DeliveryOut,
    summary="Send one delivery again (same webhook-id and body, a fresh retry schedule)",
    tags=TAGS,
    responses={404: "No such delivery", 409: "Its endpoint is disabled"},
)
async def replay_webhook_delivery(call: Call) -> Any:
    return await service.replay_delivery(call.kernel, call.path["id"])


def build_routes() -> list[BaseRoute]:
    return [
        *routes_from(
            create_webhook_endpoint,
            list_webhook_endpoints,
            get_webhook_endpoint,
            update_webhook_endpoint,
            delete_webhook_endpoint,
            rotate_webhook_secret,
            list_webhook_deliveries,
            replay_failed_webhooks,
            replay_webhook_delivery,
        )
    ]
