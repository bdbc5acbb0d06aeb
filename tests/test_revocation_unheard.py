"""A change this process did not hear of (its pub/sub connection was cut while it was
announced) does not live on in the token-state cache: once subscribed again, the first request
reads the database, long before TOKEN_STATE_TTL. On the MariaDB + Redis run (the embedded
default has no connection to lose)."""

from __future__ import annotations

import asyncio
import time
import types
from typing import Any

import pytest
from sqlalchemy import text

from commerce_kernel import Plugin, hookimpl
from commerce_kernel.identity import TOKEN_STATES_CHANNEL, customer, token_states
from commerce_kernel.routing import Call, api_route, routes_from
from commerce_kernel.testing import cut_pubsub
from tests import test_revocation

TTL = 60  # far longer than the test: only a dropped cache can explain a refusal

state_reads = test_revocation.state_reads  # the guard's token-state reads, counted


@api_route("/api/unheard/", guard=customer, summary="Reads nothing but the guard does")
async def guarded(call: Call) -> Any:
    return {"account_id": call.account_id}


probe = types.ModuleType("unheard_probe")
probe.plugin = Plugin(name="unheard_probe", version="0.0.1")  # type: ignore[attr-defined]


@hookimpl
def routes(kernel: Any) -> list[Any]:
    return list(routes_from(guarded))


probe.routes = routes  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe]


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    return {"TOKEN_STATE_TTL": str(TTL)}


async def test_a_change_missed_while_pubsub_was_cut_ends_the_token_at_the_next_request(
    kernel, client, customer, state_reads
):
    if not kernel.settings.redis_url:
        pytest.skip("a connection to lose needs Redis (the MariaDB + Redis run)")
    headers = {"Authorization": f"Bearer {customer.access_token}"}
    assert (await client.get("/api/unheard/", headers=headers)).status_code == 200
    states = token_states(kernel)
    deadline = time.monotonic() + 10
    while not states._hearing():  # the listener subscribes on the first request
        assert time.monotonic() < deadline, "token states never subscribed"
        await asyncio.sleep(0.05)
    assert (await client.get("/api/unheard/", headers=headers)).status_code == 200
    state_reads.clear()
    assert (await client.get("/api/unheard/", headers=headers)).status_code == 200
    assert state_reads == [], "the state is cached (else this test proves nothing)"

    assert await cut_pubsub(kernel) >= 1
    # Deactivated outside the kernel while nothing is heard: no announcement reaches anyone.
    async with kernel.db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE accounts SET is_active = :no WHERE id = :id"),
            {"no": False, "id": customer.id},
        )
    deadline = time.monotonic() + 20
    while not kernel.pubsub.listening(TOKEN_STATES_CHANNEL):
        assert time.monotonic() < deadline, "pub/sub never subscribed again"
        await asyncio.sleep(0)  # (no time for the listener task to go first)
    # Subscribed again: at once, not TOKEN_STATE_TTL later.
    answer = await client.get("/api/unheard/", headers=headers)
    assert answer.status_code == 401, answer.text
    assert len(state_reads) == 1
