"""Faults survived, on MariaDB + Redis with two `commerce serve` processes and a worker under a
load of concurrent orders from a real HTTP client: a server killed, Redis and MariaDB stopped
and started again, the worker killed mid bulk upload and mid mail. Nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from commerce_catalog import bulk
from commerce_catalog.models import Product
from commerce_orders.models import IdempotencyKey, MailOutboxRow, Order
from sqlalchemy import func, select
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from commerce_kernel.testing import Backend
from tests.reliability.services import (
    FAULT_RUN,
    NOT_FAULT_RUN,
    OrderLoad,
    Outcome,
    PrivateServices,
    customer_tokens,
)

pytestmark = pytest.mark.skipif(not FAULT_RUN, reason=NOT_FAULT_RUN)

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
CLIENT_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders", "live_counts"]


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    return {
        # A request that died with its server leaves its Idempotency-Key claimed; a client's
        # retry takes the claim over after this long (30 s by default).
        "ORDERS_IDEMPOTENCY_STALE_SECONDS": "5",
        # Under arq's in-progress expiry of a killed worker (its longest task timeout, 50 s,
        # + 10 s) and over the mail task's timeout (45 s): the rerun of a killed send finds the
        # lease expired and sends at once.
        "ORDERS_MAIL_LEASE_SECONDS": "50",
        "CATALOG_BULK_CHUNK_ROWS": "200",
        "CATALOG_BULK_CHUNK_TIMEOUT": "10",
    }


@pytest.fixture(scope="session")
def commerce_backend(private_services: PrivateServices) -> Backend:
    """This module's deployment, and the processes it spawns, on the private servers."""
    return Backend(private_services.mariadb.url, private_services.redis.url)


async def until(
    check: Callable[[], Awaitable[bool] | bool], timeout: float, what: str, poll: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(poll)


async def orders_of_keys(kernel: Any) -> dict[int, int]:
    """Order id → how many idempotency keys answer with it."""
    async with kernel.db.session() as session:
        rows = (
            await session.execute(
                select(IdempotencyKey.order_id, func.count())
                .where(IdempotencyKey.order_id.is_not(None))
                .group_by(IdempotencyKey.order_id)
            )
        ).all()
    return {int(order_id): int(n) for order_id, n in rows}


async def outbox_rows(kernel: Any, orders: set[int]) -> list[tuple[Any, ...]]:
    """The outbox rows of these orders, to say why a mail is missing."""
    async with kernel.db.session() as session:
        rows = await session.execute(
            select(
                MailOutboxRow.order_id,
                MailOutboxRow.attempts,
                MailOutboxRow.lease_until,
                MailOutboxRow.sent_at,
                MailOutboxRow.created_at,
            ).where(MailOutboxRow.order_id.in_(orders))
        )
        return [tuple(r) for r in rows][:10]


async def order_ids(kernel: Any) -> set[int]:
    async with kernel.db.session() as session:
        return set((await session.execute(select(Order.id))).scalars())


async def retry_until_answered(load: OrderLoad, outcome: Outcome, url: str) -> Outcome:
    """What a client does after a lost answer: the same request with the same key, until it
    is answered (a key whose request died with its server is in flight until it goes stale)."""
    deadline = time.monotonic() + 30
    while True:
        await load.place(outcome, url)
        if outcome.status in (200, 201) or time.monotonic() > deadline:
            return outcome
        if outcome.status not in (None, 409, 503):
            return outcome
        await asyncio.sleep(0.5)


async def test_a_server_killed_mid_load_loses_and_doubles_no_order(
    kernel, services, spawn, make_product, order_state
):
    stock = 5_000
    product = await make_product(stock=stock)
    tokens = await customer_tokens(kernel, 60, "kill9-")
    doomed, survivor = spawn("serve"), spawn("serve")
    spawn("worker")
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=LIMITS) as http:
        load = OrderLoad(http, [doomed.url, survivor.url], tokens, product.id)
        running = asyncio.create_task(load.run(n=500, concurrency=40))
        await until(
            lambda: sum(1 for o in load.outcomes if o.status == 201) >= 150, 60, "150 orders"
        )
        doomed.kill()  # SIGKILL, mid-load: requests in flight on it die with it
        await running
        seen = load.statuses()
        # Only two things may happen to a client: its order placed, or its connection lost.
        assert set(seen) <= {201, None}, {
            o.status: o.body for o in load.outcomes if o.status not in (201, None)
        }
        assert seen.get(None, 0) > 0, "the kill landed after the load: no request was cut"
        confirmed = {o.key: o.order_id for o in load.outcomes if o.status == 201}
        print(f"\nserver killed mid-load: answers {seen}, ", end="")

        # Every order a client saw 201 for is there, once (no two answers name one order).
        assert len(set(confirmed.values())) == len(confirmed)
        stored = await order_ids(kernel)
        assert set(confirmed.values()) <= stored
        state = await order_state(product.id)
        # Nothing half-written: every order has its line, stock and sold count match it.
        assert state["orders_without_lines"] == []
        assert state["units"] == state["orders"] == len(stored)
        assert (state["stock"], state["sold"]) == (stock - state["units"], state["units"])
        assert state["outbox"] == state["orders"]  # each order's mail was written with it
        # At most the requests in flight on the killed server committed unseen.
        assert len(stored) - len(confirmed) <= 40

        # The clients that lost their answer retry on the surviving server with their key:
        # each gets one order, the one that committed unseen or a new one.
        lost = [o for o in load.outcomes if o.status is None]
        await asyncio.gather(*(retry_until_answered(load, o, survivor.url) for o in lost))
        assert {o.status for o in lost} <= {200, 201}, [o.body for o in lost][:3]
        replayed = sum(1 for o in lost if o.status == 200)
        print(f"{len(lost)} retried: {replayed} had committed unseen, {len(lost) - replayed} new")
    answered = {o.key: o.order_id for o in load.outcomes}
    assert len(answered) == 500 and None not in answered.values()
    assert len(set(answered.values())) == 500  # 500 keys, 500 distinct orders
    assert await order_ids(kernel) == set(answered.values())  # and no order nobody asked for
    assert set((await orders_of_keys(kernel)).values()) == {1}
    state = await order_state(product.id)
    assert state["orders_without_lines"] == []
    assert (state["orders"], state["units"], state["outbox"]) == (500, 500, 500)
    assert (state["stock"], state["sold"]) == (stock - 500, 500)
    assert survivor.proc.poll() is None


async def test_orders_commit_through_a_redis_outage_and_each_mail_goes_once(
    kernel, services, spawn, make_product, order_state, smtp
):
    product = await make_product(stock=5_000)
    tokens = await customer_tokens(kernel, 30, "redis-")
    servers = [spawn("serve"), spawn("serve")]
    worker = spawn("worker", env=smtp.settings)  # with the cron jobs: orders.requeue_mail
    urls = [s.url for s in servers]
    async with (
        httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=LIMITS) as http,
        LiveCountsListener(servers[1].url, product.id) as live,
    ):
        before = OrderLoad(http, urls, tokens, product.id)
        await before.run(n=40, concurrency=10)
        # The worker is up (its mail arrives) before the outage: a process started while
        # Redis is down refuses to start, for its supervisor to start it again.
        first = {o.order_id for o in before.outcomes}
        await until(lambda: first <= set(smtp.confirmations()), 60, "mail before the outage")
        during = OrderLoad(http, urls, tokens, product.id)
        running = asyncio.create_task(during.run(n=10_000, concurrency=10, pause=0.05))
        await until(lambda: len(during.outcomes) >= 20, 30, "orders under way")
        await asyncio.to_thread(services.redis.stop)  # mid-load; it comes back empty
        stopped = len(during.outcomes)
        await until(lambda: len(during.outcomes) >= stopped + 60, 60, "orders during the outage")
        await asyncio.to_thread(services.redis.start)
        back = time.monotonic()
        restarted = len(during.outcomes)
        await until(lambda: len(during.outcomes) >= restarted + 40, 60, "orders after it")
        during.stop()
        await running
        # The same socket, never reconnected, hears figures again once Redis is back, and
        # ends on the stored figure (what was announced while Redis was away is caught up).
        # It is read while open: the last order's figure may come after its 201.
        sold = (await order_state(product.id))["sold"]
        await until(lambda: live.sold == sold, 30, f"the live count to reach {sold}")
    outcomes = before.outcomes + during.outcomes
    statuses = {o.status for o in outcomes}
    assert statuses == {201}, [(o.status, o.body or o.error) for o in outcomes if o.status != 201][
        :5
    ]
    placed = {o.order_id for o in outcomes}
    assert len(placed) == len(outcomes)
    print(
        f"\nRedis outage: {len(outcomes)} orders, all 201 ({restarted - stopped} while it was "
        f"down); ",
        end="",
    )

    # Mail queued in Redis when it stopped is gone with it: the outbox's cron job queues it
    # again, and each confirmation arrives once.
    started = time.monotonic()
    try:
        await until(lambda: placed <= set(smtp.confirmations()), 90, "every confirmation mail")
    except AssertionError as exc:
        missing = placed - set(smtp.confirmations())
        rows = await outbox_rows(kernel, missing)
        alive = "running" if worker.proc.poll() is None else f"exited {worker.proc.returncode}"
        raise AssertionError(
            f"no mail for {len(missing)} orders (the worker {alive}): {rows}"
        ) from exc
    print(
        f"all mail arrived {time.monotonic() - started:.1f} s after the load, "
        f"{time.monotonic() - back:.1f} s after Redis returned"
    )
    await asyncio.sleep(2)  # room for a duplicate to show up, were there one
    copies = smtp.confirmations()
    assert set(copies) == placed
    assert {n for n in copies.values()} == {1}, {i: n for i, n in copies.items() if n != 1}
    state = await order_state(product.id)
    assert (state["orders"], state["outbox"], state["sent"]) == (len(placed),) * 3
    assert live.sold == state["sold"]
    assert live.heard_after(back), "the live counts socket heard nothing after Redis returned"
    assert live.seqs == sorted(live.seqs) and len(set(live.seqs)) == len(live.seqs)
    assert live.closed is None, f"the live counts socket was closed: {live.closed}"
    print(f"live counts: {len(live.seqs)} figures on one socket, ending at {live.sold}")
    assert worker.proc.poll() is None, "the worker died with Redis"
    assert all(s.proc.poll() is None for s in servers)


class LiveCountsListener:
    """One WebSocket client following one product's live count for the whole test."""

    def __init__(self, base_url: str, product_id: int) -> None:
        self.url = base_url.replace("http://", "ws://") + "/ws/live-counts/"
        self.product_id = product_id
        self.sold: int | None = None
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.closed: str | None = None

    def heard_after(self, moment: float) -> bool:
        return any(t > moment for t in self.times)

    async def __aenter__(self) -> LiveCountsListener:
        self._ws = await ws_connect(self.url, open_timeout=10)
        await self._ws.send(json.dumps({"subscribe": [self.product_id]}))
        snapshot = json.loads(await asyncio.wait_for(self._ws.recv(), 10))
        self.sold = snapshot["counts"][str(self.product_id)]
        self.seqs.append(snapshot["seq"])
        self._reading = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                frame = json.loads(raw)
                if frame.get("type") == "sold_count" and frame["product_id"] == self.product_id:
                    self.sold = frame["sold"]
                    self.seqs.append(frame["seq"])
                    self.times.append(time.monotonic())
        except ConnectionClosed as exc:
            self.closed = repr(exc)
        else:
            self.closed = "closed"

    async def __aexit__(self, *exc: object) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)
        await self._ws.close()


async def answer(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    started = time.monotonic()
    r = await http.request(method, url, **kw)
    r.extensions["seconds"] = time.monotonic() - started
    return r


async def test_a_database_outage_is_quick_503s_and_the_same_processes_recover(
    kernel, services, spawn, make_product, order_state, smtp
):
    product = await make_product(stock=1_000)
    tokens = await customer_tokens(kernel, 40, "db-")
    servers = [spawn("serve"), spawn("serve")]
    smtp.hold_after(0)  # every mail waits at RCPT TO, before DATA, until released
    worker = spawn("worker", env=smtp.settings)
    urls = [s.url for s in servers]
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=LIMITS) as http:
        load = OrderLoad(http, urls, tokens, product.id)
        await load.run(n=20, concurrency=10)
        assert load.statuses() == {201: 20}
        await until(lambda: smtp.held == 10, 30, "the worker's ten sends under way")
        # The database goes while ten mails are mid-SMTP (claimed, not yet accepted) and ten
        # wait in the queue; the ten are accepted once it is gone, and must be recorded sent
        # when it returns, or their leases expire and they go out a second time.
        await asyncio.to_thread(services.mariadb.stop)
        down = time.monotonic()
        smtp.release()
        # Many clients at once, on both servers: every one answered 503 problem+json at once,
        # none left hanging on a connection pool that cannot fill.
        outage = OrderLoad(http, urls, tokens, product.id)
        started = time.monotonic()
        reads = [
            answer(http, "GET", f"{u}/api/products/?page={i + 1}") for i in range(20) for u in urls
        ]
        _, answers = await asyncio.gather(
            outage.run(n=80, concurrency=40),
            asyncio.gather(*reads, *(answer(http, "GET", f"{u}/api/ready/") for u in urls)),
        )
        elapsed = time.monotonic() - started
        assert outage.statuses() == {503: 80}, [o.body for o in outage.outcomes][:3]
        assert {r.status_code for r in answers} == {503}, [r.text for r in answers][:3]
        for r in answers:
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
            assert int(r.headers["Retry-After"]) > 0
            assert r.json()["status"] == 503
        slowest = max(
            [r.extensions["seconds"] for r in answers] + [o.seconds for o in outage.outcomes]
        )
        assert slowest < 5, f"a 503 took {slowest:.1f} s (the client waits {CLIENT_TIMEOUT:.0f})"
        for u in urls:
            assert (await http.get(f"{u}/api/health/")).status_code == 200  # processes live on
        print(
            f"\nMariaDB outage: {len(answers) + 80} requests answered 503 in {elapsed:.1f} s "
            f"(slowest {slowest:.2f} s); ",
            end="",
        )

        await until(lambda: len(smtp.messages) == 10, 20, "the ten mails accepted")
        await asyncio.sleep(max(0.0, down + 12 - time.monotonic()))  # down for 12 s at least
        await asyncio.to_thread(services.mariadb.start)
        back = time.monotonic()

        async def recovered() -> bool:
            rs = [await http.get(f"{u}/api/ready/") for u in urls]
            return all(r.status_code == 200 for r in rs)

        await until(recovered, 30, "both servers ready again", poll=0.2)
        after = OrderLoad(http, urls, tokens, product.id)
        await after.run(n=20, concurrency=10)
        assert after.statuses() == {201: 20}, [o.body for o in after.outcomes][:3]
        print(f"served again {time.monotonic() - back:.1f} s after MariaDB returned")
        placed_ids = {o.order_id for o in load.outcomes + after.outcomes}
        # The same worker, never restarted, sends the new orders' mail: it did not hang.
        await until(lambda: placed_ids <= set(smtp.confirmations()), 60, "mail after the outage")

    async def all_recorded_sent() -> bool:
        return (await order_state(product.id))["sent"] == 40

    await until(all_recorded_sent, 20, "every mail recorded sent (none to go out again)")
    await asyncio.sleep(1)
    assert worker.proc.poll() is None and all(s.proc.poll() is None for s in servers)
    state = await order_state(product.id)
    assert state["orders_without_lines"] == []
    assert (state["orders"], state["units"], state["sold"]) == (40, 40, 40)
    assert state["stock"] == 1_000 - 40
    assert set(smtp.confirmations().values()) == {1}


def rows_csv(n: int, prefix: str) -> bytes:
    lines = ["sku,name,description,price,stock"]
    lines += [
        f"{prefix}-{i:06},Product {i},Bulk product {i},{i % 90}.50,{i % 40}" for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


async def products_like(kernel: Any, prefix: str) -> tuple[int, int]:
    async with kernel.db.session() as session:
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Product.sku))).where(
                    Product.sku.like(f"{prefix}-%")
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_a_worker_killed_mid_mail_and_mid_bulk_upload_loses_and_doubles_nothing(
    kernel, services, spawn, make_product, order_state, smtp, admin
):
    product = await make_product(stock=1_000)
    tokens = await customer_tokens(kernel, 12, "worker-")
    servers = [spawn("serve"), spawn("serve")]
    # Five confirmations go through; every later one is held by the SMTP server mid-way
    # (after MAIL FROM, before DATA): the worker is killed while it is sending them.
    smtp.hold_after(5)
    # No cron in it: arq reruns a killed worker's jobs once their in-progress keys expire,
    # after its longest task timeout (orders.send_mail: 45 s + 5) + 10 s.
    doomed = spawn("worker", "--no-cron", env=smtp.settings)
    urls = [s.url for s in servers]
    n = 12_000
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=LIMITS) as http:
        load = OrderLoad(http, urls, tokens, product.id)
        await load.run(n=12, concurrency=12)
        assert load.statuses() == {201: 12}
        placed = {o.order_id for o in load.outcomes}

        async def five_sent_seven_held() -> bool:
            return smtp.held == 7 and (await order_state(product.id))["sent"] == 5

        await until(five_sent_seven_held, 60, "5 mails sent and 7 held mid-transaction")
        # The seven hold seven of the worker's ten job slots; the bulk upload runs in the rest.
        r = await http.post(
            f"{urls[0]}/api/products/bulk_upload/",
            content=rows_csv(n, "W"),
            headers={"Authorization": f"Bearer {admin.access_token}", "Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        async def under_way() -> bool:
            return (await bulk.job_status(kernel, job_id)).processed >= 1_000

        await until(under_way, 60, "the bulk upload under way")
        doomed.kill()  # SIGKILL: chunks die mid-transaction, mails mid-SMTP
        mid = await bulk.job_status(kernel, job_id)
        assert mid.status == "running" and mid.processed < n
        assert (await order_state(product.id))["sent"] == 5
        smtp.release()  # the SMTP server takes mail again; the killed sends never reached DATA

        started = time.monotonic()
        spawn("worker", env=smtp.settings)  # a new worker, with the cron jobs

        async def done() -> bool:
            status = await bulk.job_status(kernel, job_id)
            return status.status in ("succeeded", "failed") and placed <= set(smtp.confirmations())

        await until(done, 150, "the bulk upload and every mail", poll=0.5)
        print(
            f"\nworker killed: bulk upload at {mid.processed}/{n} rows and 7 mails mid-SMTP; "
            f"all done {time.monotonic() - started:.1f} s after a new worker started"
        )
        await asyncio.sleep(2)  # room for a duplicate to show up, were there one
    status = await bulk.job_status(kernel, job_id)
    assert status.status == "succeeded"
    assert (status.total, status.processed, status.created, status.failed) == (n, n, n, 0)
    assert await products_like(kernel, "W") == (n, n)
    copies = smtp.confirmations()
    assert set(copies) == placed
    assert set(copies.values()) == {1}, {i: c for i, c in copies.items() if c != 1}
    state = await order_state(product.id)
    assert (state["outbox"], state["sent"]) == (12, 12)


async def test_two_deployments_sharing_a_redis_each_schedule_their_cron_ticks(kernel, services):
    # REDIS_PREFIX lets deployments share a Redis, and cron jobs run once per deployment: a
    # tick of `orders.requeue_mail` in one must not take the same tick from the other.
    from datetime import UTC, datetime, timedelta

    from commerce_kernel import Kernel
    from commerce_kernel.plugins import load_plugins
    from commerce_kernel.settings import Settings
    from commerce_kernel.tasks.redis import build_worker

    env = {k.lower(): v for k, v in kernel.settings.model_dump().items() if v is not None}
    other = Kernel(
        Settings(**{**env, "redis_prefix": f"{kernel.settings.redis_prefix}other:"}),
        load_plugins(kernel.plugin_names, (), ()),
    )
    workers = [build_worker(k, with_cron=True) for k in (kernel, other)]
    try:
        now = datetime.now(UTC)
        for w in workers:
            await w.run_cron(now, 0.5)  # arq's first pass computes the next run of each job
        tick = min(job.next_run for job in workers[0].cron_jobs)
        for w in workers:
            await w.run_cron(tick - timedelta(seconds=0.5), 0.5)  # as a heartbeat just before
        queued = [await kernel.redis.zcard(w.queue_name) for w in workers]
        assert queued[0] >= 1 and queued[0] == queued[1], queued
    finally:
        for w in workers:
            await kernel.redis.delete(w.queue_name)
        await other.db.dispose()
