"""A code limited to N uses is carried by exactly N orders however many buyers race for it,
in one process and across two real server processes (MariaDB + Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from commerce_orders.api import OrderStatus
from commerce_promotions.models import Promotion, Redemption
from sqlalchemy import func, select

from commerce_kernel.identity import CUSTOMER, create_account

CODES = "/api/cart/promotions/"


async def _customers(kernel: Any, n: int) -> list[str]:
    """n customer accounts and an access token for each."""
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"buyer{i}@example.com") for i in range(n)]
    return [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _apply_for_all(app: Any, tokens: list[str], code: str) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        for t in tokens:
            r = await http.post(CODES, json={"code": code}, headers=_auth(t))
            assert r.status_code == 201, r.text


async def _carried(kernel: Any, promotion_id: int) -> tuple[int, int]:
    """(the promotion's used counter, redemptions not given back)."""
    async with kernel.db.session() as session:
        used = await session.scalar(select(Promotion.used).where(Promotion.id == promotion_id))
        redeemed = await session.scalar(
            select(func.count())
            .select_from(Redemption)
            .where(Redemption.promotion_id == promotion_id, Redemption.returned_at.is_(None))
        )
    return int(used or 0), int(redeemed or 0)


def _outcome(responses: list[httpx.Response], code: str) -> tuple[int, int]:
    unexpected = [r.text for r in responses if r.status_code not in (201, 409)]
    assert not unexpected, unexpected[:3]
    placed = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all([a["code"] for a in o["adjustments"]] == [code] for o in placed)
    assert all(o["status"] == OrderStatus.PENDING for o in placed)
    assert all((p["code"], p["reason"]) == (code, "exhausted") for p in refused), refused[:3]
    return len(placed), len(refused)


async def test_40_buyers_race_for_10_uses_in_one_process(app, kernel, make_product, promotion):
    p = await promotion(code="TEN4TEN", kind="percentage", value="10", usage_limit=10)
    product = await make_product(stock=1000)
    tokens = await _customers(kernel, 40)
    await _apply_for_all(app, tokens, "TEN4TEN")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    "/api/orders/",
                    json={"items": [{"product_id": product.id, "quantity": 1}]},
                    headers=_auth(t),
                )
                for t in tokens
            ]
        )
    assert _outcome(list(responses), "TEN4TEN") == (10, 30)
    assert await _carried(kernel, p["id"]) == (10, 10)


async def test_200_buyers_race_for_50_uses_across_two_server_processes(
    multiprocess, app, kernel, make_product, promotion, spawn
):
    p = await promotion(code="FIFTY", kind="percentage", value="10", usage_limit=50)
    product = await make_product(stock=1000)
    tokens = await _customers(kernel, 200)
    await _apply_for_all(app, tokens, "FIFTY")
    servers = [spawn("serve"), spawn("serve")]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    f"{servers[i % 2].url}/api/orders/",
                    json={"items": [{"product_id": product.id, "quantity": 1}]},
                    headers=_auth(t),
                )
                for i, t in enumerate(tokens)
            ]
        )
    assert _outcome(list(responses), "FIFTY") == (50, 150)
    assert await _carried(kernel, p["id"]) == (50, 50)
