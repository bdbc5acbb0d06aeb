"""Declaring API endpoints: path, guard and pydantic models in one place, for handlers and OpenAPI."""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from commerce_kernel.bodies import control_character
from commerce_kernel.db import rfc3339
from commerce_kernel.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    UnprocessableEntity,
    invalid,
)
from commerce_kernel.identity import Guard, Principal, public, resolve_guard, token_states

if TYPE_CHECKING:
    from commerce_kernel.kernel import Kernel


MAX_ID = 2**63 - 1
"""The largest id a path can name (64-bit signed keys)."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> bytes:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)


class JSON(Response):
    """A JSON response encoded with orjson (Decimal as string, timestamps in RFC 3339)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


@dataclass
class Call:
    """What a handler gets besides the request: parsed input and who is calling."""

    request: Request
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def kernel(self) -> Kernel:
        return self.request.app.state.kernel

    @property
    def is_admin(self) -> bool:
        """True when the caller carries an admin token (any guard)."""
        return self.principal is not None and self.principal.is_admin

    @property
    def client_address(self) -> str | None:
        """The caller's address, the one to key per-address limits on: the socket peer, or,
        when that peer is one of `TRUSTED_PROXIES`, the client its `X-Forwarded-For` names
        (resolved once per request by the kernel's outermost middleware)."""
        client = self.request.client
        return client.host if client else None

    @property
    def path(self) -> Mapping[str, Any]:
        return self.request.path_params

    @property
    def account_id(self) -> int:
        assert self.principal is not None
        return self.principal.account_id


@dataclass
class Endpoint:
    """The OpenAPI-relevant description of one operation."""

    method: str
    path: str
    summary: str
    tags: tuple[str, ...]
    guard: Guard
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    responses: dict[int, str] = field(default_factory=dict)
    request_content: dict[str, Any] | None = None
    description: str | None = None
    operation_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: a value in one operation's answer feeds another operation, so a client
    (or a fuzzer's stateful phase) can follow create product -> add to cart -> order -> cancel.

    Declared on either end with `api_route(links=[...])`: `Link(target="get_order",
    parameters={"id": "$response.body#/id"})` on the operation that answers the value, or
    `Link(source="create_product", request_body={"product_id": "$response.body#/id"})` on the
    operation it feeds (a plugin links its operations to another plugin's without touching
    them). The other end is an operation id. `parameters` maps the target's path, query or
    header parameter names, and `request_body` its body (nested values may be expressions), to
    OpenAPI runtime expressions (`$response.body#/id`, `$response.header.Location`) or
    constants. The link hangs on the source's success status (`status=` for another). A link
    whose other end is not loaded is left out of the document (its plugin may be disabled).
    """

    target: str | None = None
    source: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    request_body: Any = None
    description: str = ""
    status: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.target is None) == (self.source is None):
            raise TypeError("A Link names exactly one other end: target= or source=.")


Handler = Callable[[Call], Awaitable[Any]]


def _body_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def refuse_declared_oversize(
    request: Request, limit: int, too_large: Callable[[int], PayloadTooLarge] = _body_too_large
) -> None:
    """413 at once when `Content-Length` already says the body is over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Invalid Content-Length header.") from None
        if size > limit:
            raise too_large(limit)


async def limited_stream(
    request: Request, limit: int, too_large: Callable[[int], PayloadTooLarge] = _body_too_large
) -> AsyncGenerator[bytes, None]:
    """The body in chunks as they arrive, 413 as soon as more than `limit` bytes came (a
    missing or lying `Content-Length` changes nothing). For bodies spooled elsewhere."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes with 413 (no unbounded reads)."""
    refuse_declared_oversize(request, limit)
    return b"".join([chunk async for chunk in limited_stream(request, limit)])


async def parse_json(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    if not raw.strip():
        return None
    return _loads(raw)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON body: {exc.args[0] if exc.args else exc}") from None


def validate(model: type[BaseModel], data: Any, location: Sequence[str | int]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, location) from None


def parse_query(request: Request, model: type[BaseModel]) -> Any:
    data: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        for value in values:
            ch = control_character(value)
            if ch is not None:
                # A NUL in a search would reach the database's text search as it is.
                msg = f"must not contain control characters (U+{ord(ch):04X})"
                raise UnprocessableEntity(
                    "The request has invalid fields.",
                    errors=[{"loc": ["query", key], "msg": msg, "type": "value_error"}],
                )
        info = model.model_fields.get(key)
        many = info is not None and _is_list(info.annotation)
        data[key] = values if many else values[-1]
    return validate(model, data, ("query",))


def _is_list(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return origin in (list, tuple)


class APIRoute(Route):
    """A Starlette `Route` that carries its `Endpoint` description for OpenAPI."""

    endpoints: list[Endpoint]


def api_route(
    path: str,
    method: str = "GET",
    *,
    guard: Guard = public,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    summary: str = "",
    tags: Sequence[str] = (),
    responses: Mapping[int, str] | None = None,
    max_body: int | None = None,
    request_content: dict[str, Any] | None = None,
    description: str | None = None,
    name: str | None = None,
    headers: Mapping[str, str] | None = None,
    links: Sequence[Link] = (),
) -> Callable[[Handler], Endpoint]:
    """Declare one operation; gather the results with `routes_from(...)`.

    The handler receives a `Call` and returns a `Response`, or data that is answered as
    JSON with `status`. Bodies are read with a size limit (`max_body`, else the kernel's
    `MAX_REQUEST_BYTES`), parsed as JSON and validated into `body` (422 problem+json on
    failure); query strings into `query` the same way. `headers` documents request headers
    the handler reads (`{"Idempotency-Key": "what it does"}`) in the OpenAPI document.

    `responses` describes the statuses the handler itself answers; the document adds those
    the kernel answers around it: 401 and 403 from the guard (401 on a public operation for a
    bad token), 400, 413 and 422 for a body, 422 for a query (and 404 past the last page of a
    `PageQuery`), 503 for a backend outage. The body is marked required unless `{}` is valid.
    `links` are OpenAPI links from or to other operations (see `Link`).
    """

    def decorate(handler: Handler) -> Endpoint:
        endpoint = Endpoint(
            method=method.upper(),
            path=path,
            summary=summary or (inspect.getdoc(handler) or handler.__name__).split("\n")[0],
            tags=tuple(tags),
            guard=guard,
            body=body,
            query=query,
            response=response,
            status=status,
            responses=dict(responses or {}),
            request_content=request_content,
            description=description or inspect.getdoc(handler),
            operation_id=name or handler.__name__,
            headers=dict(headers or {}),
            links=tuple(links),
        )
        endpoint.handler = _wrap(handler, endpoint, max_body)  # type: ignore[attr-defined]
        return endpoint

    return decorate


def _wrap(
    handler: Handler, endpoint: Endpoint, max_body: int | None
) -> Callable[[Request], Awaitable[Response]]:
    int_params = [
        name for name, conv in re.findall(r"{([^}:]+):([^}]+)}", endpoint.path) if conv == "int"
    ]

    async def run(request: Request) -> Response:
        for name in int_params:
            # Ids are 64-bit signed in every table: a larger one names nothing (and SQLite
            # would fail binding it).
            if request.path_params[name] > MAX_ID:
                raise NotFound(f"Nothing has the {name} {request.path_params[name]}.")
        # Made on a process's first request, not its first token check: a sign-in that ends
        # other sessions (`prove_email`) must announce them to the other processes too.
        token_states(request.app.state.kernel)
        principal = await resolve_guard(endpoint.guard, request)
        if principal is not None:
            request.state.principal = principal
        call = Call(request, principal)
        if endpoint.query is not None:
            call.query = parse_query(request, endpoint.query)
        if endpoint.body is not None:
            limit = max_body or request.app.state.kernel.settings.max_request_bytes
            # Only an empty body reads as `{}`: a JSON `null` is not an object, and is refused.
            raw = await read_body(request, limit)
            data = _loads(raw) if raw.strip() else {}
            call.body = validate(endpoint.body, data, ("body",))
        try:
            result = await handler(call)
        except IntegrityError:
            # A row referencing the caller's account failed its foreign key: the account
            # was deleted after the guard's (cached) check. That is a 401, not a 500.
            if principal is not None:
                await token_states(call.kernel).check(principal, fresh=True)
            raise
        if isinstance(result, Response):
            return result
        if result is None and endpoint.status == 204:
            return Response(status_code=204)
        return JSON(result, status_code=endpoint.status)

    return run


def routes_from(*endpoints: Endpoint) -> list[APIRoute]:
    """Group endpoints by path into routes (one route per path, several methods)."""
    by_path: dict[str, list[Endpoint]] = {}
    for ep in endpoints:
        by_path.setdefault(ep.path, []).append(ep)
    out: list[APIRoute] = []
    for path, eps in by_path.items():
        handlers = {ep.method: ep.handler for ep in eps}  # type: ignore[attr-defined]

        async def dispatch(request: Request, handlers: dict[str, Any] = handlers) -> Response:
            # Starlette's Route answers 405 for other methods and adds HEAD beside GET.
            handler = handlers.get(request.method) or handlers["GET"]
            return await handler(request)

        route = APIRoute(path, dispatch, methods=list(handlers), name=eps[0].operation_id)
        route.endpoints = eps
        out.append(route)
    return out


class APIWebSocketRoute(WebSocketRoute):
    """A Starlette `WebSocketRoute` with the frames it exchanges, for the OpenAPI document
    (`x-websockets`, frame schemas in `components.schemas`)."""

    summary: str
    description: str
    receives: tuple[type[BaseModel], ...]
    sends: tuple[type[BaseModel], ...]
    tags: tuple[str, ...]


def websocket_route(
    path: str,
    endpoint: Callable[[WebSocket], Awaitable[None]],
    *,
    summary: str,
    receives: Sequence[type[BaseModel]] = (),
    sends: Sequence[type[BaseModel]] = (),
    tags: Sequence[str] = (),
    name: str | None = None,
) -> APIWebSocketRoute:
    """Declare a WebSocket endpoint with the frames a client sends (`receives`) and gets
    (`sends`), as pydantic models; the endpoint's docstring is its description. OpenAPI has
    no WebSocket operations, so the document lists them under `x-websockets` (and in its
    description), with each frame model's schema in `components.schemas`."""
    route = APIWebSocketRoute(path, endpoint, name=name or endpoint.__name__)
    route.summary = summary
    route.description = inspect.getdoc(endpoint) or summary
    route.receives = tuple(receives)
    route.sends = tuple(sends)
    route.tags = tuple(tags)
    return route


def reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSON:
    return JSON(data, status_code=status, headers=dict(headers or {}))


__all__ = [
    "JSON",
    "APIRoute",
    "APIWebSocketRoute",
    "Call",
    "Endpoint",
    "api_route",
    "dumps",
    "limited_stream",
    "read_body",
    "refuse_declared_oversize",
    "reply",
    "routes_from",
    "websocket_route",
]
