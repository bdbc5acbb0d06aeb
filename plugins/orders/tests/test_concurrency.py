"""Stock under contention: many buyers of few units, in one process and across processes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from commerce_orders.models import Order, OrderLine
from sqlalchemy import func, select

from commerce_kernel.identity import CUSTOMER, create_account


async def _customers(kernel: Any, n: int) -> list[str]:
    """n customer accounts and an access token for each (no refresh tokens needed)."""
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"buyer{i}@example.com") for i in range(n)]
    return [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]


async def _sold(kernel: Any) -> tuple[int, int]:
    async with kernel.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(Order))
        units = await session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)))
    return int(orders or 0), int(units or 0)


async def test_last_units_go_to_exactly_as_many_buyers_in_process(
    app, kernel, make_product, product_state
):
    p = await make_product(stock=10)
    tokens = await _customers(kernel, 40)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    "/api/orders/",
                    json={"items": [{"product_id": p.id, "quantity": 1}]},
                    headers={"Authorization": f"Bearer {t}"},
                )
                for t in tokens
            ]
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 10 + [409] * 30, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    assert await product_state(p.id) == (0, 10)
    assert await _sold(kernel) == (10, 10)


async def test_200_buyers_of_50_units_across_two_server_processes(
    multiprocess, kernel, make_product, product_state, spawn
):
    p = await make_product(stock=50)
    tokens = await _customers(kernel, 200)
    servers = [spawn("serve"), spawn("serve")]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    f"{servers[i % 2].url}/api/orders/",
                    json={"items": [{"product_id": p.id, "quantity": 1}]},
                    headers={"Authorization": f"Bearer {t}"},
                )
                for i, t in enumerate(tokens)
            ]
        )
    codes = [r.status_code for r in responses]
    unexpected = [r.text for r in responses if r.status_code not in (201, 409)]
    assert not unexpected, unexpected[:3]
    assert (codes.count(201), codes.count(409)) == (50, 150)
    shortfalls = [r.json()["lines"] for r in responses if r.status_code == 409]
    assert all(s == [{"product_id": p.id, "requested": 1, "available": 0}] for s in shortfalls)
    assert await product_state(p.id) == (0, 50)
    assert await _sold(kernel) == (50, 50)


async def test_ordering_the_cart_while_adding_to_it_loses_and_doubles_nothing(
    kernel, customer, make_product, product_state
):
    p = await make_product(stock=1000)
    adds = [
        customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
        for _ in range(30)
    ]
    orders = [customer.client.post("/api/orders/") for _ in range(6)]
    responses = await asyncio.gather(*[*adds[:10], *orders[:3], *adds[10:], *orders[3:]])
    added = sum(1 for r in responses[:10] + responses[13:33] if r.status_code in (200, 201))
    placed = [r for r in responses if r.request.url.path == "/api/orders/" and r.status_code == 201]
    assert all(r.status_code in (200, 201, 409) for r in responses), [r.text for r in responses]
    ordered_units = sum(i["quantity"] for r in placed for i in r.json()["items"])
    in_cart = (await customer.client.get("/api/cart/")).json()["items_count"]
    assert added == 30
    assert ordered_units + in_cart == 30
    assert await product_state(p.id) == (1000 - ordered_units, ordered_units)
