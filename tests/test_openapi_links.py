"""OpenAPI links: the document says which answer feeds which operation, and following those
links as a client would (create product -> add to cart -> order -> cancel) works."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from commerce_kernel import Link, api_route, public, routes_from
from commerce_kernel.openapi import build_openapi

pytestmark = pytest.mark.usefixtures("kernel")


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders", "promotions", "webhooks", "live_counts"]


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    # A webhook endpoint on loopback (nothing is delivered: it hears only retired products, and none is retired after it).
    return {"WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32"}


def _pointer(data: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/") if pointer not in ("", "/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def evaluate(expression: Any, answer: httpx.Response) -> Any:
    """An OpenAPI runtime expression (`$response.body#/...`, `$response.header.X`) against
    an answer; nested in a request body too, constants as they are."""
    if isinstance(expression, dict):
        return {k: evaluate(v, answer) for k, v in expression.items()}
    if isinstance(expression, list):
        return [evaluate(v, answer) for v in expression]
    if isinstance(expression, str):
        if expression.startswith("$response.body#"):
            return _pointer(answer.json(), expression.removeprefix("$response.body#"))
        if expression.startswith("$response.header."):
            return answer.headers[expression.removeprefix("$response.header.")]
        assert not expression.startswith("$"), (
            f"an expression this test cannot follow: {expression}"
        )
    return expression


class Operations:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.by_id: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                self.by_id[op["operationId"]] = (method.upper(), path, op)

    def link(self, source: str, target: str, status: int) -> dict[str, Any]:
        links = self.by_id[source][2]["responses"][str(status)].get("links", {})
        found = [link for link in links.values() if link["operationId"] == target]
        assert len(found) == 1, f"{source} {status} links to {sorted(links)}"
        return found[0]

    async def follow(
        self,
        client: httpx.AsyncClient,
        source: str,
        answer: httpx.Response,
        target: str,
    ) -> httpx.Response:
        """Call `target` with exactly what the link from `source`'s answer gives it."""
        link = self.link(source, target, answer.status_code)
        method, path, op = self.by_id[target]
        values = (
            {name.split(".")[-1]: evaluate(v, answer) for name, v in link["parameters"].items()}
            if "parameters" in link
            else {}
        )
        url = re.sub(r"{([^}]+)}", lambda m: str(values.pop(m[1])), path)
        kinds = {p["name"]: p["in"] for p in op.get("parameters", [])}
        assert all(kinds.get(name) in ("query", "header") for name in values), values
        query = {k: v for k, v in values.items() if kinds[k] == "query"}
        headers = {k: v for k, v in values.items() if kinds[k] == "header"}
        body = evaluate(link["requestBody"], answer) if "requestBody" in link else None
        return await client.request(method, url, params=query, headers=headers, json=body)


async def test_following_the_links_creates_a_product_puts_it_in_the_cart_orders_and_cancels(
    client, customer, admin
):
    ops = Operations((await client.get("/api/openapi.json")).json())
    created = await admin.client.post(
        "/api/products/",
        json={"sku": "LINK-1", "name": "Linked lamp", "price": "12.50", "stock": 5},
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    read = await ops.follow(client, "create_product", created, "get_product")
    assert read.status_code == 200 and read.json()["sku"] == "LINK-1"
    sold = await ops.follow(client, "create_product", created, "sold_count")
    assert sold.status_code == 200 and sold.json()["sold"] == 0

    line = await ops.follow(customer.client, "create_product", created, "add_to_cart")
    assert line.status_code == 201, line.text
    assert line.json()["product_id"] == product_id and line.json()["quantity"] == 1
    changed = await ops.follow(customer.client, "add_to_cart", line, "change_quantity")
    assert changed.status_code == 422  # the link gives the line, the new quantity is the client's

    order = await ops.follow(customer.client, "add_to_cart", line, "place_order")
    assert order.status_code == 201, order.text
    assert [(i["product_id"], i["quantity"]) for i in order.json()["items"]] == [(product_id, 1)]
    seen = await ops.follow(customer.client, "place_order", order, "get_order")
    assert seen.status_code == 200 and seen.json()["status"] == "pending"
    assert (await client.get(f"/api/products/{product_id}/")).json()["stock"] == 4

    cancelled = await ops.follow(customer.client, "place_order", order, "cancel_order")
    assert cancelled.status_code == 204, cancelled.text
    after = await ops.follow(customer.client, "place_order", order, "get_order")
    assert after.json()["status"] == "cancelled"
    assert (await client.get(f"/api/products/{product_id}/")).json()["stock"] == 5

    retired = await ops.follow(admin.client, "create_product", created, "retire_product")
    assert retired.status_code == 204


async def test_following_the_promotion_and_webhook_links(client, customer, admin):
    ops = Operations((await client.get("/api/openapi.json")).json())
    promo = await admin.client.post(
        "/api/admin/promotions/",
        json={"code": "LINKED", "label": "Linked", "kind": "percentage", "value": "10"},
    )
    assert promo.status_code == 201, promo.text
    assert (await ops.follow(admin.client, "create_promotion", promo, "get_promotion")).json()[
        "code"
    ] == "LINKED"
    product = await admin.client.post(
        "/api/products/", json={"sku": "LINK-2", "name": "Linked mug", "price": "4.00", "stock": 3}
    )
    line = await ops.follow(customer.client, "create_product", product, "add_to_cart")
    assert line.status_code == 201, line.text
    applied = await ops.follow(customer.client, "create_promotion", promo, "apply_promotion_code")
    assert applied.status_code == 201, applied.text
    removed = await ops.follow(
        customer.client, "apply_promotion_code", applied, "remove_promotion_code"
    )
    assert removed.status_code == 204, removed.text

    endpoint = await admin.client.post(
        "/api/admin/webhooks/endpoints/",
        json={"url": "http://127.0.0.1:9/in", "event_types": ["product.retired"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    got = await ops.follow(
        admin.client, "create_webhook_endpoint", endpoint, "get_webhook_endpoint"
    )
    assert got.status_code == 200 and got.json()["url"] == "http://127.0.0.1:9/in"
    deliveries = await ops.follow(
        admin.client, "create_webhook_endpoint", endpoint, "list_webhook_deliveries"
    )
    assert deliveries.status_code == 200 and deliveries.json()["count"] == 0


# --- the kernel's side: where links go, and what it refuses ---------------------------------


class ThingOut(BaseModel):
    id: int


def _endpoints(*links: Link, target_name: str = "get_thing") -> list[Any]:
    @api_route("/api/things/", "POST", guard=public, response=ThingOut, status=201, links=links)
    async def make_thing(call: Any) -> Any:
        raise AssertionError

    @api_route("/api/things/{id:int}/", guard=public, response=ThingOut, name=target_name)
    async def get_thing(call: Any) -> Any:
        raise AssertionError

    return routes_from(make_thing, get_thing)


def _doc(routes: list[Any]) -> dict[str, Any]:
    return build_openapi(routes, title="t", version="1", plugins=[])


def test_a_link_hangs_on_the_source_answer_whichever_end_declares_it():
    doc = _doc(_endpoints(Link(target="get_thing", parameters={"id": "$response.body#/id"})))
    answer = doc["paths"]["/api/things/"]["post"]["responses"]["201"]
    assert answer["links"] == {
        "get_thing": {"operationId": "get_thing", "parameters": {"id": "$response.body#/id"}}
    }

    @api_route(
        "/api/other/{id:int}/",
        guard=public,
        links=[Link(source="make_thing", parameters={"id": "$response.body#/id"}, name="other")],
    )
    async def other(call: Any) -> Any:
        raise AssertionError

    doc = _doc([*_endpoints(), *routes_from(other)])
    links = doc["paths"]["/api/things/"]["post"]["responses"]["201"]["links"]
    assert links == {"other": {"operationId": "other", "parameters": {"id": "$response.body#/id"}}}


def test_a_link_to_an_operation_that_is_not_loaded_is_left_out():
    doc = _doc(_endpoints(Link(target="not_loaded_anywhere", parameters={"id": "1"})))
    assert "links" not in doc["paths"]["/api/things/"]["post"]["responses"]["201"]


def test_a_link_that_cannot_work_stops_the_document_with_a_clear_message():
    with pytest.raises(ValueError, match="get_thing has no parameter 'thing_id'"):
        _doc(_endpoints(Link(target="get_thing", parameters={"thing_id": "$response.body#/id"})))
    with pytest.raises(ValueError, match="get_thing takes no request body"):
        _doc(_endpoints(Link(target="get_thing", request_body={"id": 1})))
    with pytest.raises(ValueError, match="make_thing does not answer 200"):
        _doc(_endpoints(Link(target="get_thing", status=200, parameters={"id": "1"})))
    with pytest.raises(ValueError, match="Two operations have the id 'make_thing'"):
        _doc(_endpoints(target_name="make_thing"))
    with pytest.raises(TypeError, match="exactly one other end"):
        Link(target="a", source="b")
    with pytest.raises(TypeError, match="exactly one other end"):
        Link()
