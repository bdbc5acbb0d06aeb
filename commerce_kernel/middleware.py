"""The outermost layer of every request: request id, Host check, access log, and the answer
to errors nobody handled (503 for a backend outage, else a bare 500)."""

from __future__ import annotations

import logging
import re
import time
import uuid

import redis.exceptions as redis_exc
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_kernel.db import is_disconnect
from commerce_kernel.errors import BadRequest, Problem, ServiceUnavailable, problem_response
from commerce_kernel.logging import request_id_var

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


class RequestMiddleware:
    """Outermost layer: assigns `X-Request-ID`, refuses unknown hosts (400), logs each request
    as one JSON line and turns any error nobody handled into problem+json (500/503)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_hosts
        self.allowed = {h.lower() for h in allowed_hosts}

    def _host_ok(self, scope: Scope) -> bool:
        if self.allow_any:
            return True
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = value.decode("latin-1").lower()
                if host.startswith("["):
                    host = host[: host.find("]") + 1]
                else:
                    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
                return host in self.allowed or any(
                    a.startswith(".") and (host.endswith(a) or host == a[1:]) for a in self.allowed
                )
        return False

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
                await self.app(scope, receive, send_wrapper)
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
                    "request_id": rid,
                },
            )
            request_id_var.reset(token)
