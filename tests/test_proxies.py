"""Client addresses: the socket peer, unless it is one of TRUSTED_PROXIES (none by default);
then the client its `X-Forwarded-For` names. `call.client_address`, the per-address limits
and the access log all use that one address."""

from __future__ import annotations

import asyncio
import json
import logging
import types
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from commerce_kernel import Plugin, Settings, TooManyRequests, hookimpl
from commerce_kernel.middleware import RequestMiddleware, TrustedProxies
from commerce_kernel.routing import Call, api_route, routes_from


@api_route("/api/proxies/whoami/", summary="The caller's address as the kernel sees it")
async def whoami(call: Call) -> Any:
    return {"client": call.client_address, "scheme": call.request.url.scheme}


@api_route("/api/proxies/limited/", "POST", summary="Two calls per client address a minute")
async def limited(call: Call) -> Any:
    wait = await call.kernel.limiter.hit(f"proxies:{call.client_address}", 2, 60)
    if wait is not None:
        raise TooManyRequests(retry_after=wait)
    return {"ok": True}


probe = types.ModuleType("proxies_probe")
probe.plugin = Plugin(name="proxies_probe", version="0.0.1")  # type: ignore[attr-defined]


@hookimpl
def routes(kernel: Any) -> list[Any]:
    return list(routes_from(whoami, limited))


probe.routes = routes  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe]


# --- the rule ---------------------------------------------------------------------------


def test_an_untrusted_peer_is_the_client_whatever_it_says():
    proxies = TrustedProxies(["10.0.0.5"])
    assert proxies.client("203.0.113.9", ["1.2.3.4"]) is None
    assert TrustedProxies([]).client("127.0.0.1", ["1.2.3.4"]) is None


def test_the_nearest_untrusted_hop_is_the_client():
    proxies = TrustedProxies(["10.0.0.0/8"])
    # A client behind the proxy writes its own X-Forwarded-For; the proxy appends what it saw.
    assert proxies.client("10.0.0.5", ["6.6.6.6, 203.0.113.9"]) == "203.0.113.9"
    assert proxies.client("10.0.0.5", ["6.6.6.6", "203.0.113.9"]) == "203.0.113.9"
    # Two trusted hops (a load balancer, then nginx).
    assert proxies.client("10.0.0.5", ["6.6.6.6, 203.0.113.9, 10.1.1.1"]) == "203.0.113.9"
    # Every hop trusted: the leftmost is the client.
    assert proxies.client("10.0.0.5", ["10.2.2.2, 10.1.1.1"]) == "10.2.2.2"
    # Nothing forwarded: the proxy itself.
    assert proxies.client("10.0.0.5", []) is None


def test_forwarded_entries_with_ports_ipv6_and_garbage():
    proxies = TrustedProxies(["127.0.0.1", "::1", "fd00::/8"])
    assert proxies.client("::1", ["[2001:db8::7]:4711"]) == "2001:db8::7"
    assert proxies.client("127.0.0.1", ["198.51.100.1:4711"]) == "198.51.100.1"
    assert proxies.client("fd00::3", ["2001:db8::8"]) == "2001:db8::8"
    assert proxies.client("::ffff:127.0.0.1", ["198.51.100.2"]) == "198.51.100.2"
    # Not an address: never a client; the last real hop stands.
    assert proxies.client("127.0.0.1", ["evil, ::1"]) == "::1"
    assert proxies.client("127.0.0.1", ["unknown"]) is None


def test_trusted_proxies_setting_is_validated():
    assert Settings(trusted_proxies="10.0.0.1, 192.168.0.0/16").trusted_proxies == [  # type: ignore[arg-type]
        "10.0.0.1",
        "192.168.0.0/16",
    ]
    assert Settings().trusted_proxies == []
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="localhost")  # type: ignore[arg-type]


async def _through(middleware: RequestMiddleware, client: tuple[str, int], headers: list) -> dict:
    seen: dict[str, Any] = {}

    async def app(scope, receive, send):
        seen.update(client=scope["client"], scheme=scope["scheme"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    middleware.app = app
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "scheme": "http",
        "client": client,
        "headers": [(b"host", b"localhost"), *headers],
    }
    await middleware(scope, receive, send)
    return seen


async def test_the_middleware_rewrites_client_and_scheme_for_a_trusted_peer(caplog):
    mw = RequestMiddleware(None, allowed_hosts=["*"], trusted_proxies=["127.0.0.1"])  # type: ignore[arg-type]
    headers = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]
    with caplog.at_level(logging.INFO, logger="commerce.access"):
        seen = await _through(mw, ("127.0.0.1", 5000), headers)
    assert seen == {"client": ("203.0.113.9", 0), "scheme": "https"}
    line = next(r for r in caplog.records if r.name == "commerce.access")
    assert line.client == "203.0.113.9"  # type: ignore[attr-defined]
    untrusted = await _through(mw, ("198.51.100.4", 5000), headers)
    assert untrusted == {"client": ("198.51.100.4", 5000), "scheme": "http"}


# --- a deployment with the default (nothing trusted) ------------------------------------


async def test_by_default_x_forwarded_for_from_loopback_is_ignored(app, caplog):
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        with caplog.at_level(logging.INFO, logger="commerce.access"):
            r = await client.get(
                "/api/proxies/whoami/",
                headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"},
            )
    assert r.json() == {"client": "127.0.0.1", "scheme": "http"}
    line = next(r for r in caplog.records if r.name == "commerce.access")
    assert line.client == "127.0.0.1"  # type: ignore[attr-defined]


async def test_a_per_address_limit_cannot_be_escaped_by_forging_x_forwarded_for(client):
    codes = [
        (
            await client.post("/api/proxies/limited/", headers={"X-Forwarded-For": f"6.6.6.{n}"})
        ).status_code
        for n in range(3)
    ]
    assert codes == [200, 200, 429]


# --- real `commerce serve` processes ----------------------------------------------------


def access_lines(server: Any) -> list[dict[str, Any]]:
    lines = []
    for raw in server.output().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if record.get("logger") == "commerce.access":
            lines.append(record)
    return lines


async def forwarded_health(server: Any, forwarded_for: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{server.url}/api/health/", headers={"X-Forwarded-For": forwarded_for})
    assert r.status_code == 200


async def last_access_line(server: Any, path: str) -> dict[str, Any]:
    for _ in range(100):
        lines = [line for line in access_lines(server) if line.get("path") == path]
        if lines:
            return lines[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access line for {path}:\n{server.output()}")


async def test_commerce_serve_trusts_no_proxy_by_default(spawn):
    """uvicorn's own proxy handling trusted X-Forwarded-For from 127.0.0.1 (finding 7)."""
    server = spawn("serve", env={"LOG_LEVEL": "INFO"})
    await forwarded_health(server, "6.6.6.6")
    line = await last_access_line(server, "/api/health/")
    assert line["client"] == "127.0.0.1"


async def test_commerce_serve_with_trusted_proxies_logs_the_forwarded_client(spawn):
    server = spawn("serve", env={"LOG_LEVEL": "INFO", "TRUSTED_PROXIES": "127.0.0.1"})
    await forwarded_health(server, "6.6.6.6, 203.0.113.9")
    line = await last_access_line(server, "/api/health/")
    assert line["client"] == "203.0.113.9"
