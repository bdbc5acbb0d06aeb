"""WS /ws/live-counts/ against a real uvicorn and real WebSocket clients (this process's
kernel, either backend): snapshots, pushes on place and cancel, bad frames, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from commerce_catalog.models import Product
from commerce_live_counts.relay import CHANNEL
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from commerce_kernel.pubsub import Versioned
from commerce_kernel.testing import cut_pubsub

QUIET = 0.4  # how long "nothing arrives" is watched for


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/live-counts/"


@pytest_asyncio.fixture(loop_scope="session")
async def socket_to(live_server: str) -> AsyncIterator[Any]:
    """`await socket_to()` → a connected client of the live server (closed afterwards)."""
    opened: list[ClientConnection] = []

    async def open_one(**kwargs: Any) -> ClientConnection:
        ws = await connect(ws_url(live_server), open_timeout=10, **kwargs)
        opened.append(ws)
        return ws

    yield open_one
    for ws in opened:
        with contextlib.suppress(Exception):
            await ws.close()


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def silent(ws: ClientConnection, seconds: float = QUIET) -> bool:
    try:
        frame = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"expected nothing, got {frame}")


async def subscribe(ws: ClientConnection, *ids: int) -> dict[str, Any]:
    await ws.send(json.dumps({"subscribe": list(ids)}))
    snapshot = await recv(ws)
    assert snapshot["type"] == "snapshot", snapshot
    return snapshot


async def order(customer: Any, *lines: tuple[int, int]) -> Any:
    return await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": p, "quantity": q} for p, q in lines]}
    )


async def test_snapshot_then_a_push_for_each_order_placed(socket_to, make_product, customer):
    a, b = await make_product(stock=10), await make_product(stock=10)
    ws = await socket_to()
    snapshot = await subscribe(ws, a.id, b.id, 999_999)
    assert snapshot["counts"] == {str(a.id): 0, str(b.id): 0}  # the unknown id is ignored
    assert isinstance(snapshot["seq"], int)

    placed = await order(customer, (a.id, 3))
    assert placed.status_code == 201, placed.text
    first = await recv(ws)
    assert first == {"type": "sold_count", "product_id": a.id, "sold": 3, "seq": first["seq"]}
    assert first["seq"] > snapshot["seq"]

    assert (await order(customer, (a.id, 1), (b.id, 2))).status_code == 201
    pushed = {f["product_id"]: f for f in [await recv(ws), await recv(ws)]}
    assert (pushed[a.id]["sold"], pushed[b.id]["sold"]) == (4, 2)
    assert min(f["seq"] for f in pushed.values()) > first["seq"]


async def test_every_kind_of_cancel_pushes_the_decrease(socket_to, make_product, customer, admin):
    p = await make_product(stock=20)
    ws = await socket_to()
    await subscribe(ws, p.id)
    ids = []
    for qty in (1, 2, 3):
        r = await order(customer, (p.id, qty))
        ids.append(r.json()["id"])
        await recv(ws)
    seen = []
    # The owner cancels a pending order; an admin cancels one (DELETE); an admin moves one
    # to cancelled (PATCH) after it was paid.
    assert (await customer.client.delete(f"/api/orders/{ids[0]}/")).status_code == 204
    seen.append(await recv(ws))
    assert (await admin.client.delete(f"/api/orders/{ids[1]}/")).status_code == 204
    seen.append(await recv(ws))
    paid = await admin.client.patch(f"/api/orders/{ids[2]}/", json={"status": "paid"})
    assert paid.status_code == 200, paid.text
    assert await silent(ws)  # a status change that moves no units pushes nothing
    r = await admin.client.patch(f"/api/orders/{ids[2]}/", json={"status": "cancelled"})
    assert r.status_code == 200, r.text
    seen.append(await recv(ws))
    assert [f["sold"] for f in seen] == [5, 3, 0]
    assert [f["seq"] for f in seen] == sorted({f["seq"] for f in seen})
    detail = await customer.client.get(f"/api/products/{p.id}/sold_count/")
    assert detail.json() == {"product_id": p.id, "sold": 0}


async def test_a_refused_order_announces_nothing(socket_to, make_product, customer):
    plenty, scarce = await make_product(stock=10), await make_product(stock=1)
    ws = await socket_to()
    await subscribe(ws, plenty.id, scarce.id)
    # The first line could be taken, the second cannot: the whole order rolls back.
    r = await order(customer, (plenty.id, 2), (scarce.id, 5))
    assert r.status_code == 409
    assert await silent(ws)
    snapshot = await subscribe(ws, plenty.id, scarce.id)
    assert snapshot["counts"] == {str(plenty.id): 0, str(scarce.id): 0}


async def test_unsubscribe_stops_the_pushes(socket_to, make_product, customer):
    a, b = await make_product(stock=10), await make_product(stock=10)
    ws = await socket_to()
    await subscribe(ws, a.id, b.id)
    await ws.send(json.dumps({"unsubscribe": [a.id]}))
    await order(customer, (a.id, 1))
    await order(customer, (b.id, 1))
    # b's frame arrives and a's never did before it (frames come in order).
    frame = await recv(ws)
    assert (frame["product_id"], frame["sold"]) == (b.id, 1)
    assert await silent(ws)


async def test_a_reconnecting_client_sees_the_current_figure(socket_to, make_product, customer):
    p = await make_product(stock=10)
    ws = await socket_to()
    await subscribe(ws, p.id)
    await ws.close()
    await order(customer, (p.id, 4))  # while it was away
    again = await socket_to()
    assert (await subscribe(again, p.id))["counts"] == {str(p.id): 4}


async def test_a_figure_lost_while_pubsub_was_cut_arrives_once_it_is_back(
    socket_to, make_product, customer, kernel
):
    if not kernel.settings.redis_url:
        pytest.skip("a pub/sub connection to lose needs Redis (the MariaDB + Redis run)")
    sold, quiet = await make_product(stock=10), await make_product(stock=10)
    ws = await socket_to()
    snapshot = await subscribe(ws, sold.id, quiet.id)
    # A sale whose announcement is lost, as one published while this process's pub/sub
    # connection was down would be: stored, never heard.
    async with kernel.db.transaction() as session:
        await session.execute(
            update(Product)
            .where(Product.id == sold.id)
            .values(sold_count=Product.sold_count + 2, sold_version=Product.sold_version + 1)
        )
    assert await silent(ws)
    assert await cut_pubsub(kernel) == 1
    caught_up = await recv(ws)  # read again once subscribed again
    assert caught_up == {
        "type": "sold_count",
        "product_id": sold.id,
        "sold": 2,
        "seq": caught_up["seq"],
    }
    assert caught_up["seq"] >= snapshot["seq"]
    assert await silent(ws)  # nothing for the product that did not change
    # Heard as before: the next sale, numbered after the catch-up.
    assert (await order(customer, (sold.id, 1))).status_code == 201
    after = await recv(ws)
    assert (after["product_id"], after["sold"]) == (sold.id, 3)
    assert after["seq"] > caught_up["seq"]


async def test_retired_products_are_not_followed(socket_to, make_product, admin):
    p = await make_product(stock=10)
    assert (await admin.client.delete(f"/api/products/{p.id}/")).status_code == 204
    ws = await socket_to()
    assert (await subscribe(ws, p.id))["counts"] == {}


@pytest.mark.parametrize(
    "frame, detail",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "subscribe"),
        ('{"follow": [1]}', "Unknown action 'follow'"),
        ('{"subscribe": "1"}', "list of product ids"),
        ('{"subscribe": [true]}', "list of product ids"),
        ('{"subscribe": [1.5]}', "list of product ids"),
        ('{"subscribe": [-3]}', "list of product ids"),
        ('{"subscribe": [99999999999999999999999]}', "list of product ids"),
        ('{"unsubscribe": null}', "list of product ids"),
        (b"\x00binary", "JSON text"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(
    socket_to, make_product, frame, detail
):
    p = await make_product()
    ws = await socket_to()
    await ws.send(frame)
    error = await recv(ws)
    assert error["type"] == "error" and detail in error["detail"], error
    assert (await subscribe(ws, p.id))["counts"] == {str(p.id): 0}


async def test_limits_refuse_floods_huge_frames_and_too_many_products(
    socket_to, make_product, kernel
):
    p = await make_product()
    ws = await socket_to()
    # More products than one socket may follow: refused whole.
    await ws.send(json.dumps({"subscribe": list(range(1, 1002))}))
    error = await recv(ws)
    assert error["type"] == "error" and "At most 1000 products" in error["detail"]
    # A flood: the burst is handled, the rest answered with errors and ignored.
    for _ in range(60):
        await ws.send(json.dumps({"unsubscribe": [p.id]}))
    replies = []
    with contextlib.suppress(TimeoutError):
        while True:
            replies.append(await recv(ws, timeout=QUIET))
    # 30 a burst, one spent above, a token or two back while sending.
    assert 26 <= len(replies) <= 31, len(replies)
    assert all("Too many frames" in r["detail"] for r in replies)
    await asyncio.sleep(0.3)  # a few tokens come back: the socket still works
    assert (await subscribe(ws, p.id))["counts"] == {str(p.id): 0}
    # A frame over the size limit closes the socket with 1009.
    big = await socket_to()
    await big.send(json.dumps({"subscribe": [1] * 10_000}))
    with pytest.raises(ConnectionClosed):
        await recv(big)
    assert big.close_code == 1009


async def test_an_order_of_many_followed_products_closes_no_healthy_listener(
    socket_to, make_product, kernel
):
    products = [(await make_product()).id for _ in range(300)]
    listeners = [await socket_to() for _ in range(3)]
    for ws in listeners:
        await subscribe(ws, *products)
    # One announcement of 300 new figures (an order of 300 lines): more than the send queue
    # holds, but each product waits as one figure, so nobody is "too slow".
    await kernel.pubsub.publish_versioned(
        CHANNEL, [Versioned(str(p), 1, _frame(p, 1)) for p in products]
    )
    for ws in listeners:
        got = {}
        while len(got) < len(products):
            frame = await recv(ws)
            got[frame["product_id"]] = frame["sold"]
        assert got == dict.fromkeys(products, 1)
        assert ws.close_code is None


async def test_a_burst_of_changes_ends_on_the_latest_figure_in_seq_order(
    socket_to, make_product, kernel
):
    p = await make_product()
    ws = await socket_to()
    snapshot = await subscribe(ws, p.id)
    await kernel.pubsub.publish_versioned(
        CHANNEL, [Versioned(str(p.id), v, _frame(p.id, v)) for v in range(1, 51)]
    )
    frames = [await recv(ws)]
    while frames[-1]["sold"] != 50:
        frames.append(await recv(ws))
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs)) and seqs[0] > snapshot["seq"]
    assert [f["sold"] for f in frames] == sorted(f["sold"] for f in frames)
    assert await silent(ws)


class _BlockedSocket:
    """A socket whose first send blocks until released (a client busy reading)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if not self.sent:
            self.sent.append(json.loads(text))
            await self.release.wait()
            return
        self.sent.append(json.loads(text))


async def test_figures_that_pile_up_behind_a_busy_socket_are_merged_into_the_latest(kernel):
    from commerce_live_counts.hub import Connection
    from commerce_live_counts.settings import LiveCountsSettings

    socket_ = _BlockedSocket()
    conn = Connection(socket_, kernel.section(LiveCountsSettings))  # type: ignore[arg-type]
    conn.versions = {1: 0, 2: 0}
    writer = asyncio.create_task(conn.write())
    try:
        conn.offer(1, 1, json.dumps({"product_id": 1, "sold": 1}))
        await asyncio.sleep(0.01)  # the writer is now stuck sending it
        for v in range(2, 300):  # more than the send queue: each replaces the previous
            conn.offer(1, v, json.dumps({"product_id": 1, "sold": v}))
            conn.offer(2, v, json.dumps({"product_id": 2, "sold": v}))
        conn.offer(1, 5, json.dumps({"product_id": 1, "sold": 5}))  # older: dropped
        assert len(conn.outbox) == 2 and not conn.ended.is_set()
        socket_.release.set()
        for _ in range(100):
            if len(socket_.sent) == 3:
                break
            await asyncio.sleep(0.01)
        assert socket_.sent == [
            {"product_id": 1, "sold": 1},
            {"product_id": 1, "sold": 299},
            {"product_id": 2, "sold": 299},
        ]
    finally:
        writer.cancel()


def _frame(product_id: int, sold: int) -> dict[str, Any]:
    return {"type": "sold_count", "product_id": product_id, "sold": sold, "version": sold}


async def test_sold_count_over_http(client, admin, make_product, customer):
    p = await make_product(stock=5)
    await order(customer, (p.id, 2))
    assert (await client.get(f"/api/products/{p.id}/sold_count/")).json() == {
        "product_id": p.id,
        "sold": 2,
    }
    for path in (999_999, 2**64):
        r = await client.get(f"/api/products/{path}/sold_count/")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    await admin.client.delete(f"/api/products/{p.id}/")
    assert (await client.get(f"/api/products/{p.id}/sold_count/")).status_code == 404
    assert (await admin.client.get(f"/api/products/{p.id}/sold_count/")).json()["sold"] == 2


async def test_the_channel_and_its_frames_are_in_the_openapi_document(client):
    doc = (await client.get("/api/openapi.json")).json()
    assert "/api/products/{id}/sold_count/" in doc["paths"]
    [socket_doc] = [w for w in doc["x-websockets"] if w["path"] == "/ws/live-counts/"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in socket_doc["sends"]} == {
        "SnapshotFrame",
        "SoldCountFrame",
        "ErrorFrame",
    }
    assert socket_doc["receives"] == [{"$ref": "#/components/schemas/LiveCountsRequest"}]
    for name in ("SnapshotFrame", "SoldCountFrame", "ErrorFrame", "LiveCountsRequest"):
        assert name in doc["components"]["schemas"]
    assert "/ws/live-counts/" in doc["info"]["description"]
