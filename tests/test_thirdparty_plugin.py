"""A third party adds a table and migration, routes, a WebSocket channel, a task and cron jobs,
middleware, a settings section, a hook of its own (implemented by yet another plugin), an
optional integration with a plugin it does not require, and a CLI command, without touching
the kernel. The guestbook is installed from tests/thirdparty (see conftest.py)."""

import asyncio
import json
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from commerce_guestbook.models import Entry, Tick
from commerce_guestbook.settings import GuestbookSettings
from sqlalchemy import func, select, update
from websockets.asyncio.client import connect

from commerce_kernel import Kernel, Plugin, PluginError, Settings, hookimpl, utcnow
from commerce_kernel.plugins import installed_plugins
from tests.helpers import shout


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["guestbook"]


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [shout]


def offline_settings(tmp_path: Path) -> Settings:
    """Settings for a kernel that is built (plugins, hooks, sections) but never started."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", secret_key="k" * 40)


async def test_installed_plugin_is_found_by_entry_point(kernel):
    dists = {p.info.name: p.distribution for p in kernel.plugins}
    assert dists["guestbook"] == "commerce-test-guestbook"
    assert installed_plugins()["guestbook"].value == "commerce_guestbook.plugin"
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
    workers = [spawn("worker"), spawn("worker")]

    async def slots() -> list[Any]:
        async with kernel.db.session() as session:
            stmt = select(Tick.slot, func.count()).group_by(Tick.slot)
            return list((await session.execute(stmt)).all())

    # Three slots, however long two workers take to start on a busy machine (30 s at most).
    for _ in range(300):
        if len(await slots()) >= 3:
            break
        await asyncio.sleep(0.1)
    for w in workers:
        w.stop()
    rows = await slots()
    assert len(rows) >= 3, [w.output() for w in workers]
    assert {slot: n for slot, n in rows if n != 1} == {}


async def test_cron_jobs_run_on_demand(kernel, customer, client, run_cron, run_tasks):
    await run_cron("guestbook.tick")
    async with kernel.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Tick))).scalar() == 1

    old = (await customer.client.post("/api/guestbook/", json={"text": "long ago"})).json()
    new = (await customer.client.post("/api/guestbook/", json={"text": "just now"})).json()
    await run_tasks()
    async with kernel.db.transaction() as session:
        await session.execute(
            update(Entry)
            .where(Entry.id == old["id"])
            .values(created_at=utcnow() - timedelta(days=366))
        )
    await run_cron("guestbook.purge")  # GUESTBOOK_KEEP_DAYS is 365 by default
    assert [e["id"] for e in (await client.get("/api/guestbook/")).json()] == [new["id"]]


async def test_settings_section_prefix_is_the_plugin_name(kernel, monkeypatch, tmp_path):
    assert kernel.section(GuestbookSettings).keep_days == 365
    monkeypatch.setenv("GUESTBOOK_KEEP_DAYS", "30")
    monkeypatch.setenv("KEEP_DAYS", "1")  # a bare field name is not the guestbook's variable
    other = Kernel.load(offline_settings(tmp_path), plugins=["guestbook"])
    assert other.section(GuestbookSettings).keep_days == 30
    await other.db.dispose()

    monkeypatch.setenv("GUESTBOOK_KEEP_DAYS", "0")
    with pytest.raises(PluginError, match=r"'guestbook'.*GUESTBOOK_KEEP_DAYS"):
        Kernel.load(offline_settings(tmp_path), plugins=["guestbook"])


async def test_optional_hook_of_a_plugin_not_loaded_does_not_stop_start_up(kernel, tmp_path):
    # The guestbook implements orders' `order_placed` with optionalhook=True: no orders here,
    # and the deployment started.
    assert kernel.started and not kernel.has_plugin("orders")
    assert "order_placed" not in kernel.hooks.hooks_of("guestbook")

    # The same implementation without the marker is refused: nobody declares that hook.
    needy = types.ModuleType("needy")

    @hookimpl
    async def order_placed(kernel: Kernel, order: dict) -> None: ...

    needy.plugin = Plugin(name="needy", version="0.0.1")
    needy.order_placed = order_placed
    with pytest.raises(PluginError, match=r"'needy'.*order_placed"):
        Kernel.load(offline_settings(tmp_path), plugins=[], extra_plugins=[needy])


class TestWithOrders:
    """Where the orders plugin is loaded too, its hook reaches the guestbook."""

    @pytest.fixture(scope="session")
    @classmethod
    def commerce_plugins(cls):
        return ["guestbook", "orders"]

    async def test_a_placed_order_signs_the_guestbook(self, kernel, customer, client, run_tasks):
        from commerce_orders.api import hooks as orders_hooks

        assert "guestbook" in kernel.hooks.implementers(orders_hooks.order_placed)
        order = {
            "id": 7,
            "status": "pending",
            "items": [],
            "subtotal": "0.00",
            "adjustments": [],
            "total": "0.00",
            "currency": "USD",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "account_id": customer.id,
        }
        await kernel.hooks.call(
            orders_hooks.order_placed, kernel=kernel, event_id="e1", order=order
        )
        await run_tasks()
        entries = (await client.get("/api/guestbook/")).json()
        assert [(e["text"], e["words"]) for e in entries] == [("PLACED ORDER #7!", 3)]


async def test_cli_command_of_the_plugin(customer, run_tasks, spawn):
    for text in ("one two three", "four"):
        assert (await customer.client.post("/api/guestbook/", json={"text": text})).is_success
    await run_tasks()

    proc = spawn("guestbook-stats", "--json")
    code = await asyncio.to_thread(proc.proc.wait, 60)
    assert code == 0, proc.output()
    assert json.loads(proc.output().strip().splitlines()[-1]) == {"entries": 2, "words": 4}
