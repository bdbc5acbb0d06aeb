"""MariaDB + Redis: orders placed on two `commerce serve` processes, delivered by real
`commerce worker`s, reach the receiver exactly once per event id, through failures and a
worker killed mid-delivery."""

from __future__ import annotations

import asyncio

import httpx


async def _place(servers, tokens, product_id, n):
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *[
                http.post(
                    f"{servers[i % 2].url}/api/orders/",
                    json={"items": [{"product_id": product_id, "quantity": 1}]},
                    headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                )
                for i in range(n)
            ]
        )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses][:3]
    return [r.json()["id"] for r in responses]


async def test_orders_on_two_servers_reach_the_receiver_once_per_event_id(
    multiprocess, make_customer, make_product, endpoint, receiver, spawn
):
    await endpoint(event_types=["order.placed"])
    product = await make_product(stock=1000)
    tokens = [(await make_customer(f"c{i}@example.com")).access_token for i in range(4)]
    servers = [spawn("serve"), spawn("serve")]
    spawn("worker")
    receiver.fail_next = 8  # the first eight tries are refused
    placed = await _place(servers, tokens, product.id, 20)
    await receiver.wait_for(20, timeout=60)
    await asyncio.sleep(1)  # anything extra would arrive now
    assert sorted(m["data"]["order"]["id"] for m in receiver.messages.values()) == sorted(placed)
    assert len(receiver.verified_by) == 20  # each accepted exactly once
    assert len(receiver.requests) == 28
    assert receiver.unverified == 0


async def test_a_worker_killed_mid_delivery_loses_nothing(
    multiprocess, make_customer, make_product, endpoint, receiver, spawn
):
    await endpoint(event_types=["order.placed"])
    product = await make_product(stock=1000)
    token = (await make_customer("k@example.com")).access_token
    server = spawn("serve")
    worker = spawn("worker")
    receiver.delay, receiver.slow_next, receiver.fail_next = 5.0, 1, 1
    [order_id] = await _place([server, server], [token], product.id, 1)
    await asyncio.wait_for(receiver.knocked.wait(), 30)
    worker.kill()  # while its POST is in flight: the try is never settled
    spawn("worker")
    # The held row is taken over once its hold (WEBHOOKS_TIMEOUT + 30 s) expires, by the
    # webhooks.sweep cron job of the new worker (every minute).
    await receiver.wait_for(1, timeout=150)
    [message] = receiver.messages.values()
    assert message["data"]["order"]["id"] == order_id
    await asyncio.sleep(1)  # anything extra would arrive now
    assert len(receiver.verified_by) == 1
    assert len(receiver.requests) == 2  # the cut-off try, then the sweep's
