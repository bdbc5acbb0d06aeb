"""webhooks tests: the plugin with the catalog and orders it listens to, on either backend,
and a real HTTP receiver that verifies every delivery with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import pytest_asyncio
from commerce_catalog.api import make_product  # noqa: F401 - a fixture
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commerce_kernel.testing import serve_app

ENDPOINTS = "/api/admin/webhooks/endpoints/"
ALL_TYPES = [
    "order.placed",
    "order.status_changed",
    "order.cancelled",
    "product.created",
    "product.updated",
    "product.retired",
    "product.stock_low",
    "bulk_upload.finished",
]


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["webhooks"]


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    # A receiver in the test listens on 127.0.0.1 over plain http: allowed explicitly.
    return {
        "WEBHOOKS_ALLOW_HTTP": "true",
        "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WEBHOOKS_RETRY_SCHEDULE": "0.05,0.05,0.05,0.05",
        "WEBHOOKS_TIMEOUT": "2",
    }


@dataclass
class Receiver:
    """A third-party receiver: verifies each request with `standardwebhooks` (every secret
        in `secrets` tried), answers `fail_next` requests with 503 first (after sleeping `delay`
    for `slow_next` of them), keeps each verified
        message once by its `webhook-id` (what a receiver relying on the spec does)."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    fail_next: int = 0
    delay: float = 0.0
    slow_next: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    answer: bytes = b"thanks"
    requests: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    unverified: int = 0
    verified_by: list[set[int]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    knocked: asyncio.Event = field(default_factory=asyncio.Event)  # any request came

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            headers = dict(request.headers)
            self.requests.append({"headers": headers, "body": body})
            self.knocked.set()
            if self.slow_next > 0:
                self.slow_next -= 1
                await asyncio.sleep(self.delay)
            if self.fail_next > 0:
                self.fail_next -= 1
                return Response("try later", status_code=503)
            ok: set[int] = set()
            for i, secret in enumerate(self.secrets):
                try:
                    Webhook(secret).verify(body, headers)
                    ok.add(i)
                except WebhookVerificationError:
                    pass
            if not ok:
                self.unverified += 1
                return Response("bad signature", status_code=400)
            self.verified_by.append(ok)
            message = orjson.loads(body)
            assert message["id"] == headers["webhook-id"]
            self.messages.setdefault(headers["webhook-id"], message)
            self.arrived.set()
            return Response(self.answer, status_code=self.status, headers=self.headers)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["type"] == event_type]

    async def wait_for(self, n: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) < n:
                self.arrived.clear()
                await self.arrived.wait()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    async with serve_app(r.app()) as url:
        r.url = url + "/hook"
        yield r


@pytest.fixture
def endpoint(admin: Any, receiver: Receiver) -> Any:
    """`await endpoint(event_types=[...])`: the receiver registered through the admin API
    (its secret handed to the receiver); returns the created endpoint's JSON."""

    async def create(**fields: Any) -> dict[str, Any]:
        body = {"url": receiver.url, "event_types": ALL_TYPES, **fields}
        r = await admin.client.post(ENDPOINTS, json=body)
        assert r.status_code == 201, r.text
        created = r.json()
        receiver.secrets.append(created["secret"])
        return created

    return create


@pytest.fixture
def place_order() -> Any:
    """`await place_order(client, product_id, quantity=1)`: the placed order's JSON."""

    async def place(client: Any, product_id: int, quantity: int = 1) -> dict[str, Any]:
        r = await client.post(
            "/api/orders/", json={"items": [{"product_id": product_id, "quantity": quantity}]}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    return place
