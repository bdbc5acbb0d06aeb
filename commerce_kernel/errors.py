"""One error hierarchy, turned into application/problem+json (RFC 9457) in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(Exception):
    """An error a client caused or must know about; `status` decides the HTTP status."""

    status = 400
    type = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        type: str | None = None,
        **extra: Any,
    ) -> None:
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.title = title or _TITLES.get(self.status, "Error")
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(detail or self.title)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status = 400


class Unauthorized(Problem):
    status = 401

    def __init__(
        self,
        detail: str | None = "Authentication credentials were not provided or are invalid.",
        **kw: Any,
    ) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    status = 404


class Conflict(Problem):
    status = 409


class PayloadTooLarge(Problem):
    status = 413


class UnprocessableEntity(Problem):
    status = 422


class TooManyRequests(Problem):
    status = 429

    def __init__(self, detail: str | None = None, *, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        super().__init__(detail or "Too many requests; try again later.", **kw)


class ServiceUnavailable(Problem):
    status = 503

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail or "A backend this request needs is unavailable.", **kw)


def validation_errors(
    exc: ValidationError, location: Iterable[str | int] = ("body",)
) -> list[dict[str, Any]]:
    """pydantic errors as `[{"loc": [...], "msg": ...}]`, never echoing secrets back."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [*location, *err.get("loc", ())]
        msg = err.get("msg", "invalid")
        if isinstance(msg, str) and msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        out.append({"loc": loc, "msg": msg, "type": err.get("type")})
    return out


def invalid(exc: ValidationError, location: Iterable[str | int] = ("body",)) -> UnprocessableEntity:
    return UnprocessableEntity(
        "The request has invalid fields.", errors=validation_errors(exc, location)
    )


def problem_response(problem: Problem) -> Response:
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if exc.detail != _TITLES.get(exc.status_code) else None
    return problem_response(Problem(detail, status=exc.status_code, headers=headers))


def exception_handlers() -> dict[Any, Any]:
    return {Problem: handle_problem, HTTPException: handle_http_exception}
