"""A third party adds a table and migration, a route, a task, a WebSocket channel, middleware
and a hook of its own (implemented by yet another plugin), without touching the kernel."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.helpers import shout


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["guestbook"]


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [shout]


async def test_installed_plugin_is_found_by_entry_point(kernel):
    dists = {p.info.name: p.distribution for p in kernel.plugins}
    assert dists["guestbook"] == "commerce-test-guestbook"
    assert kernel.plugin_names.index("guestbook") < kernel.plugin_names.index("shout")


async def test_route_table_task_and_other_plugins_hook(customer, client, run_tasks):
    r = await customer.client.post("/api/guestbook/", json={"text": "hello kind world"})
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "HELLO KIND WORLD!"
    assert r.headers["x-guestbook"] == "1"
    await run_tasks()
    entries = (await client.get("/api/guestbook/")).json()
    assert entries == [{"id": r.json()["id"], "text": "HELLO KIND WORLD!", "words": 3}]


async def test_plugin_route_is_in_openapi(client):
    doc = (await client.get("/api/openapi.json")).json()
    assert set(doc["paths"]["/api/guestbook/"]) == {"get", "post"}
    assert "guestbook" in [p["name"] for p in doc["x-plugins"]]
    assert doc["x-websockets"][0]["path"] == "/ws/guestbook/"


async def test_websocket_channel_pushes_task_results(live_server, customer, run_tasks):
    url = live_server.replace("http", "ws") + "/ws/guestbook/"
    async with connect(url) as ws:
        assert json.loads(await ws.recv()) == {"type": "ready"}
        r = await customer.client.post("/api/guestbook/", json={"text": "one two"})
        await run_tasks()
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert msg == {"id": r.json()["id"], "words": 2}


async def test_cron_runs_once_per_deployment_not_once_per_worker(kernel, spawn):
    if not kernel.settings.redis_url:
        pytest.skip("workers need Redis (the MariaDB + Redis run)")
    from commerce_guestbook import Tick
    from sqlalchemy import func, select

    workers = [spawn("worker"), spawn("worker")]
    await asyncio.sleep(5)
    for w in workers:
        w.stop()
    async with kernel.db.session() as session:
        rows = (await session.execute(select(Tick.slot, func.count()).group_by(Tick.slot))).all()
    assert len(rows) >= 3, [w.output() for w in workers]
    assert {slot: n for slot, n in rows if n != 1} == {}
