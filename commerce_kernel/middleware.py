"""The outermost layer of every request: request id, client address, Host check, access log,
and the answer to errors nobody handled (503 for a backend outage, else a bare 500)."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.exceptions as redis_exc
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_kernel.db import is_disconnect
from commerce_kernel.errors import BadRequest, Problem, ServiceUnavailable, problem_response
from commerce_kernel.logging import request_id_var
from commerce_kernel.security import parse_host

access_logger = logging.getLogger("commerce.access")
logger = logging.getLogger("commerce.errors")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def backend_problem(exc: BaseException) -> Problem | None:
    """A 503 for errors that mean the database or Redis is unreachable, else None."""
    if is_disconnect(exc):
        return ServiceUnavailable("The database is unavailable.")
    if isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError):
        return ServiceUnavailable("The queue or cache is unavailable.")
    return None


def unexpected_response(exc: BaseException, where: str) -> Response:
    """The answer to an error nobody handled: 503 for a backend outage, else a bare 500."""
    problem = backend_problem(exc)
    if problem is not None:
        logger.warning("backend unavailable on %s: %s", where, type(exc).__name__)
        return problem_response(problem)
    logger.error("unhandled error on %s", where, exc_info=exc)
    return problem_response(Problem("An unexpected error occurred.", status=500))


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = {"http", "https", "ws", "wss"}


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_hop(value: str) -> IPAddress | None:
    """One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678`."""
    value = value.strip()
    if value.startswith("["):
        return _ip(value[1 : value.find("]")]) if "]" in value else None
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return _ip(value)


class TrustedProxies:
    """`TRUSTED_PROXIES`: whose `X-Forwarded-For`/`X-Forwarded-Proto` is believed.

    The client is the socket peer unless that peer is a trusted proxy; then the
    `X-Forwarded-For` entries are walked from the right (the nearest hop) and the first
    address that is not a trusted proxy is the client. What a client writes into the
    header itself is left of that and never read. With none trusted (the default) the
    headers are ignored."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.networks = [ipaddress.ip_network(e.strip(), strict=False) for e in entries]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, forwarded_for: Sequence[str]) -> str | None:
        """The client address behind `peer`, or None when `peer` is not trusted or the
        header names nobody usable."""
        if not self.trusts(_ip(peer)):
            return None
        client: IPAddress | None = None
        for value in reversed(forwarded_for):
            for hop in reversed(value.split(",")):
                address = _forwarded_hop(hop)
                if address is None:
                    # Not written by a proxy that saw a connection: stop at the last real hop.
                    return None if client is None else str(client)
                client = address
                if not self.trusts(address):
                    return str(address)
        return None if client is None else str(client)

    def apply(self, scope: Scope) -> None:
        """Rewrite `scope["client"]` (and `scheme`) for a request that came through a trusted
        proxy; `request.client` and `call.client_address` then name the real client."""
        peer = scope.get("client")
        if not self or not peer:
            return
        forwarded: list[str] = []
        proto: str | None = None
        for key, value in scope.get("headers", ()):
            if key == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif key == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        client = self.client(peer[0], forwarded)
        if client is None:
            return
        scope["client"] = (client, 0)
        if proto in _SCHEMES:
            scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto


class RequestMiddleware:
    """Outermost layer: assigns `X-Request-ID`, resolves the client address (`TRUSTED_PROXIES`),
    refuses unknown hosts (400), logs each request as one JSON line and turns any error nobody
    handled into problem+json (500/503)."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: list[str], trusted_proxies: Sequence[str] | None = None
    ) -> None:
        self.app = app
        self.allow_any = "*" in allowed_hosts
        self.allowed = {h.lower() for h in allowed_hosts}
        # None: read `TRUSTED_PROXIES` from the kernel's settings on the first request.
        self.proxies = None if trusted_proxies is None else TrustedProxies(trusted_proxies)

    def _proxies(self, scope: Scope) -> TrustedProxies:
        if self.proxies is None:
            app: Any = scope.get("app")
            kernel = getattr(getattr(app, "state", None), "kernel", None)
            self.proxies = TrustedProxies(kernel.settings.trusted_proxies if kernel else ())
        return self.proxies

    def _host_ok(self, scope: Scope) -> bool:
        values = [value for key, value in scope.get("headers", ()) if key == b"host"]
        if not values:
            return self.allow_any  # HTTP/1.0 without Host
        # Two Host headers, or one that is not strictly host[:port], is a 400 even with `*`.
        host = parse_host(values[0]) if len(values) == 1 else None
        if host is None:
            return False
        return self.allow_any or (
            host in self.allowed
            or any(a.startswith(".") and (host.endswith(a) or host == a[1:]) for a in self.allowed)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _SAFE_ID.match(candidate) else None
                break
        rid = rid or uuid.uuid4().hex
        self._proxies(scope).apply(scope)
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 0
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if not self._host_ok(scope):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                response = problem_response(BadRequest("Invalid Host header."))
                await response(scope, receive, send_wrapper)
                return
            try:
                # A socket's frames go straight through: only HTTP answers get the header.
                await self.app(scope, receive, send_wrapper if scope["type"] == "http" else send)
            except Exception as exc:
                if scope["type"] != "http" or started:
                    access_logger.error("error after response started", exc_info=exc)
                    if scope["type"] == "http":
                        raise
                    return
                response = unexpected_response(exc, f"{scope.get('method')} {scope.get('path')}")
                await response(scope, receive, send_wrapper)
        finally:
            principal = scope.get("state", {}).get("principal")
            access_logger.info(
                "%s %s %s",
                scope.get("method", "WS"),
                scope.get("path"),
                status,
                extra={
                    "method": scope.get("method", "WEBSOCKET"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "account_id": getattr(principal, "account_id", None),
                    "client": (scope.get("client") or (None,))[0],
                    "request_id": rid,
                },
            )
            request_id_var.reset(token)
