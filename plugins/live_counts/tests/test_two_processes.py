"""Two real `commerce serve` processes on MariaDB + Redis: clients on both, orders placed and
cancelled on both at once; every client hears the figures in seq order, each seq the same
figure everywhere, ending on the stored `sold_count`."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
from commerce_catalog.api import Product
from sqlalchemy import select
from websockets.asyncio.client import connect

from commerce_kernel.identity import CUSTOMER, create_account

CLIENTS_PER_SERVER = 3
ORDERS = 60


async def _tokens(kernel: Any, n: int) -> list[str]:
    async with kernel.db.transaction() as session:
        accounts = [await create_account(session, f"live{i}@example.com") for i in range(n)]
    return [kernel.tokens.access_token(a.id, CUSTOMER)[0] for a in accounts]


async def _stored(kernel: Any, ids: list[int]) -> dict[int, int]:
    async with kernel.db.session() as session:
        rows = await session.execute(
            select(Product.id, Product.sold_count).where(Product.id.in_(ids))
        )
        return {pid: sold for pid, sold in rows}


async def test_every_client_on_every_process_sees_every_change_in_order(
    multiprocess, kernel, make_product, spawn
):
    products = [(await make_product(stock=1000)).id for _ in range(2)]
    servers = [spawn("serve"), spawn("serve")]
    tokens = await _tokens(kernel, 10)

    clients = []
    for server in servers:
        for _ in range(CLIENTS_PER_SERVER):
            ws = await connect(server.url.replace("http", "ws") + "/ws/live-counts/")
            await ws.send(json.dumps({"subscribe": products}))
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert snapshot["type"] == "snapshot"
            assert snapshot["counts"] == {str(p): 0 for p in products}
            clients.append((ws, snapshot))

    heard: list[list[dict[str, Any]]] = [[] for _ in clients]

    async def listen(i: int) -> None:
        ws = clients[i][0]
        async for raw in ws:
            heard[i].append(json.loads(raw))

    listeners = [asyncio.create_task(listen(i)) for i in range(len(clients))]
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def buyer(n: int) -> None:
            server = servers[n % 2]
            headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
            items = [{"product_id": p, "quantity": rng.randint(1, 3)} for p in products]
            r = await http.post(f"{server.url}/api/orders/", json={"items": items}, headers=headers)
            assert r.status_code == 201, r.text
            if n % 4 == 0:  # a quarter are cancelled again, on the other process
                other = servers[(n + 1) % 2]
                gone = await http.delete(
                    f"{other.url}/api/orders/{r.json()['id']}/", headers=headers
                )
                assert gone.status_code == 204, gone.text

        await asyncio.gather(*[buyer(n) for n in range(ORDERS)])

    stored = await _stored(kernel, products)
    assert all(stored[p] > 0 for p in products)

    def settled() -> bool:
        return all(
            {p: [f["sold"] for f in frames if f["product_id"] == p][-1:] for p in products}
            == {p: [stored[p]] for p in products}
            for frames in heard
        )

    for _ in range(400):  # at most 20 s for the last frames to arrive
        if settled():
            break
        await asyncio.sleep(0.05)
    for ws, _ in clients:
        await ws.close()
    await asyncio.gather(*listeners, return_exceptions=True)

    by_seq: dict[int, tuple[int, int]] = {}
    for (_, snapshot), frames in zip(clients, heard, strict=True):
        assert all(f["type"] == "sold_count" for f in frames)
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(set(seqs)), "frames arrive in seq order, none twice"
        assert seqs[0] > snapshot["seq"]
        for p in products:
            assert [f["sold"] for f in frames if f["product_id"] == p][-1] == stored[p]
        # One sequence for the deployment: a seq means the same figure on every socket of
        # every process (a socket may skip a figure a newer one replaced while it waited).
        for f in frames:
            assert by_seq.setdefault(f["seq"], (f["product_id"], f["sold"])) == (
                f["product_id"],
                f["sold"],
            )
