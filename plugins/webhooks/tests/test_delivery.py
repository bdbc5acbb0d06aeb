"""Events reach a real receiver signed, once per `webhook-id`, through failures and replays."""

from __future__ import annotations

from datetime import timedelta

from commerce_webhooks.models import Delivery, Endpoint
from sqlalchemy import func, select, update

from commerce_kernel import utcnow

ENDPOINTS = "/api/admin/webhooks/endpoints/"


async def _deliveries(admin, endpoint_id, **params):
    r = await admin.client.get(f"{ENDPOINTS}{endpoint_id}/deliveries/", params=params)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_an_order_reaches_the_receiver_signed_with_the_standard_headers(
    place_order, admin, customer, make_product, endpoint, receiver, run_tasks
):
    ep = await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    order = await place_order(customer.client, product.id, 2)
    await run_tasks()

    assert receiver.unverified == 0
    [message] = receiver.messages.values()
    assert message["type"] == "order.placed"
    assert message["id"].startswith("evt_")
    assert message["timestamp"].endswith("Z")
    assert message["data"]["order"]["id"] == order["id"]
    assert message["data"]["order"]["total"] == order["total"]
    assert "account_id" not in message["data"]["order"]  # the order as the API shows it
    [request] = receiver.requests
    assert request["headers"]["webhook-id"] == message["id"]
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert request["headers"]["content-type"] == "application/json"
    [d] = await _deliveries(admin, ep["id"])
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("succeeded", 1, 200)
    assert d["message_id"] == message["id"] and d["last_response"] == "thanks"
    assert d["last_duration_ms"] is not None and d["delivered_at"] is not None


async def test_a_receiver_failing_the_first_attempts_gets_each_event_exactly_once(
    place_order, admin, customer, make_product, endpoint, receiver, run_tasks
):
    ep = await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    receiver.fail_next = 3
    orders = [await place_order(customer.client, product.id) for _ in range(3)]
    await run_tasks()

    assert len(receiver.requests) == 6  # three refused tries, three accepted
    assert sorted(m["data"]["order"]["id"] for m in receiver.messages.values()) == sorted(
        o["id"] for o in orders
    )
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert set(ids) == set(receiver.messages)  # every retry carried its event's webhook-id
    rows = await _deliveries(admin, ep["id"])
    assert all(d["status"] == "succeeded" for d in rows)
    assert sum(d["attempts"] for d in rows) == 6


async def test_a_refused_order_announces_nothing(
    place_order, customer, make_product, endpoint, receiver, run_tasks, kernel
):
    await endpoint()
    product = await make_product(stock=1)
    r = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": product.id, "quantity": 5}]}
    )
    assert r.status_code == 409
    await run_tasks()
    assert receiver.requests == []
    async with kernel.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0


async def test_only_subscribed_enabled_endpoints_get_an_event(
    place_order, admin, customer, make_product, endpoint, receiver, run_tasks
):
    await endpoint(event_types=["product.created"])
    off = await endpoint(event_types=["order.placed"], enabled=False)
    product = await make_product(stock=50)
    await place_order(customer.client, product.id)
    await run_tasks()
    assert receiver.requests == []
    assert await _deliveries(admin, off["id"]) == []


async def test_retries_end_in_failed_then_replay_delivers_with_the_same_id(
    place_order, admin, customer, make_product, endpoint, receiver, run_tasks
):
    ep = await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    receiver.fail_next = 100
    since = utcnow() - timedelta(seconds=1)
    await place_order(customer.client, product.id)
    await place_order(customer.client, product.id)
    await run_tasks()
    rows = await _deliveries(admin, ep["id"], status="failed")
    assert len(rows) == 2
    # WEBHOOKS_RETRY_SCHEDULE has four waits here: five tries in all.
    assert all((d["attempts"], d["last_status_code"]) == (5, 503) for d in rows)
    assert all(d["last_error"] == "HTTP 503" for d in rows)
    assert receiver.messages == {}

    receiver.fail_next = 0
    r = await admin.client.post(f"/api/admin/webhooks/deliveries/{rows[0]['id']}/replay/")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    await run_tasks()
    assert list(receiver.messages) == [rows[0]["message_id"]]

    r = await admin.client.post(f"{ENDPOINTS}{ep['id']}/replay/", json={"since": since.isoformat()})
    assert r.status_code == 200 and r.json() == {"replayed": 1}
    await run_tasks()
    assert set(receiver.messages) == {d["message_id"] for d in rows}
    assert all(d["status"] == "succeeded" for d in await _deliveries(admin, ep["id"]))

    # Replaying an already delivered one sends it again, same id: the receiver drops it.
    r = await admin.client.post(f"/api/admin/webhooks/deliveries/{rows[0]['id']}/replay/")
    await run_tasks()
    assert (
        len(receiver.messages) == 2
        and receiver.requests[-1]["headers"]["webhook-id"] == (rows[0]["message_id"])
    )


async def test_an_endpoint_failing_for_the_documented_period_is_disabled_and_admins_mailed(
    place_order, admin, customer, make_product, endpoint, receiver, run_tasks, kernel, mailbox
):
    ep = await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    # A fresh endpoint's first failure starts its failure clock; a failed delivery alone
    # does not disable it.
    receiver.fail_next = 5  # every try of the schedule (four retries)
    await place_order(customer.client, product.id)
    await run_tasks()
    shown = (await admin.client.get(f"{ENDPOINTS}{ep['id']}/")).json()
    assert shown["enabled"] is True and shown["failing_since"] is not None
    assert [d["status"] for d in await _deliveries(admin, ep["id"])] == ["failed"]
    # Three days pass (WEBHOOKS_DISABLE_AFTER) without a success.
    async with kernel.db.transaction() as session:
        await session.execute(
            update(Endpoint).values(failing_since=utcnow() - timedelta(days=3, seconds=1))
        )
    receiver.fail_next = 1
    await place_order(customer.client, product.id)
    await run_tasks()
    shown = (await admin.client.get(f"{ENDPOINTS}{ep['id']}/")).json()
    assert shown["enabled"] is False and "failing since" in shown["disabled_reason"]
    [mail] = [m for m in mailbox if "disabled" in m["Subject"]]
    assert admin.account.email in mail["To"]
    assert ep["url"] in mail.get_content()
    d, _ = await _deliveries(admin, ep["id"])
    assert d["status"] == "pending" and d["attempts"] == 1  # kept for later
    assert receiver.messages == {}

    r = await admin.client.patch(f"{ENDPOINTS}{ep['id']}/", json={"enabled": True})
    assert r.json()["enabled"] is True and r.json()["failing_since"] is None
    r = await admin.client.post(f"/api/admin/webhooks/deliveries/{d['id']}/replay/")
    await run_tasks()
    assert len(receiver.messages) == 1


async def test_a_lost_task_is_delivered_by_the_sweep(
    place_order, customer, make_product, endpoint, receiver, run_tasks, kernel
):
    """A try claimed by a worker that died (the row held, never settled) is taken over
    once its hold expires."""
    from commerce_webhooks.delivery import sweep

    from commerce_kernel import TaskContext

    await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    receiver.fail_next = 100  # the first try will fail; then we play a dead worker
    await place_order(customer.client, product.id)
    await run_tasks()
    receiver.fail_next = 0
    async with kernel.db.transaction() as session:
        await session.execute(
            update(Delivery).values(
                status="pending",
                attempts=1,
                next_attempt_at=utcnow() - timedelta(minutes=5),
                locked_until=utcnow() + timedelta(minutes=1),  # held by a "running" try
            )
        )
    ctx = TaskContext(kernel, "cron:webhooks.sweep", 1)
    assert await sweep(ctx, grace=0) == 0  # still held
    async with kernel.db.transaction() as session:
        await session.execute(update(Delivery).values(locked_until=utcnow() - timedelta(1)))
    assert await sweep(ctx, grace=0) == 1
    await run_tasks()
    assert len(receiver.messages) == 1


async def test_the_guard_runs_again_at_delivery_time(
    admin, customer, make_product, endpoint, receiver, run_tasks, kernel, place_order
):
    """The target may point elsewhere by now (DNS changed): refused before any request."""
    ep = await endpoint(event_types=["order.placed"])
    async with kernel.db.transaction() as session:
        await session.execute(update(Endpoint).values(url="http://10.0.0.1/hook"))
    product = await make_product(stock=50)
    await place_order(customer.client, product.id)
    await run_tasks()
    [d] = await _deliveries(admin, ep["id"])
    assert d["status"] == "failed" and d["last_status_code"] is None
    assert d["last_error"].startswith("refused: 10.0.0.1")
    assert receiver.requests == []


async def test_redirects_are_not_followed_slow_receivers_are_cut_off_bodies_are_capped(
    admin, customer, make_product, endpoint, receiver, run_tasks, place_order
):
    ep = await endpoint(event_types=["order.placed"])
    product = await make_product(stock=50)
    receiver.status, receiver.headers = 302, {"Location": receiver.url + "?again"}
    await place_order(customer.client, product.id)
    await run_tasks()
    [d] = await _deliveries(admin, ep["id"])
    assert d["status"] == "failed" and d["last_status_code"] == 302
    assert "redirects are not followed" in d["last_error"]
    assert all("again" not in str(r["headers"]) for r in receiver.requests)
    assert len(receiver.requests) == 5

    receiver.status, receiver.headers, receiver.answer = 200, {}, b"x" * 100_000
    receiver.delay, receiver.slow_next = 3.0, 1  # longer than WEBHOOKS_TIMEOUT (2 s)
    receiver.requests.clear()
    await place_order(customer.client, product.id)
    await run_tasks()
    d = (await _deliveries(admin, ep["id"]))[0]
    assert d["status"] == "succeeded" and d["attempts"] == 2
    assert len(d["last_response"]) == 4096  # WEBHOOKS_MAX_RESPONSE_BYTES
