"""Structured JSON-lines logging and the request middleware (request id, host check, access log)."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce_kernel.errors import BadRequest, problem_response, unexpected_response

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
access_logger = logging.getLogger("commerce.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(data, default=str).decode()


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Stamp the request id when the record is made, not when a handler formats it later.
    record = _base_factory(*args, **kwargs)
    rid = request_id_var.get()
    if rid:
        record.request_id = rid
    return record


logging.setLogRecordFactory(_record_with_request_id)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_commerce", False) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler._commerce = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "arq.worker", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
                },
            )
            request_id_var.reset(token)
