"""Bad input, tried systematically on every operation of the full plugin set: each is a 4xx
problem+json, the server stays healthy, and nothing is written.

What plugin tests already try is not repeated here: one oversized body (tests/test_http.py),
an id past 64 bits on products (catalog), malformed JSON frames, floods and oversized frames on
`/ws/live-counts/` (live_counts), strict cart bodies (cart), a bulk upload over its limit
(catalog). This module tries the same kinds of input on every operation that takes them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select, table

from commerce_kernel.plugins import installed_plugins
from commerce_kernel.testing import Backend, Deployment, SignedIn

PLUGINS = sorted(p.name for p in Path(__file__).parents[2].joinpath("plugins").iterdir())
BULK_LIMIT = 64 * 1024
ARABIC_ONE = "\u0661"  # an Arabic-Indic digit one: int() would take it
CONTROL = {"nul": "\x00", "esc": "\x1b", "u2028": "\u2028"}


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return PLUGINS


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    return {
        "BULK_UPLOAD_MAX_BYTES": str(BULK_LIMIT),
        # Webhook endpoints on loopback may be created (they are disabled: nothing is sent).
        "WEBHOOKS_ALLOW_HTTP": "true",
        "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32",
        # Google sign-in configured (its keys are never fetched: every body here is refused
        # before that).
        "GOOGLE_CLIENT_ID": "bad-input.apps.googleusercontent.com",
        "GOOGLE_JWKS_URL": "http://127.0.0.1:9/certs",
    }


@pytest.fixture(scope="session")
def commerce_backend() -> Backend:
    # The directory's conftest points its tests at private servers for fault tests; these
    # run on the run's backend (SQLite, or the MariaDB + Redis run's).
    return Backend.from_environment()


@dataclass
class World:
    """One of each thing an operation's path can name, and the clients that may call it."""

    ids: dict[str, int | str]
    clients: dict[str, httpx.AsyncClient]

    def path(self, template: str) -> str:
        return template.format(**self.ids)


@pytest_asyncio.fixture(loop_scope="session")
async def world(
    client: httpx.AsyncClient,
    customer: SignedIn,
    admin: SignedIn,
    make_product: Any,
    run_tasks: Callable[[], Awaitable[None]],
) -> World:
    product = await make_product(price="10.00", stock=10)
    line = await customer.client.post("/api/cart/", json={"product_id": product.id, "quantity": 1})
    promotion = await admin.client.post(
        "/api/admin/promotions/", json={"kind": "fixed", "value": "1.00", "code": "SAVE1"}
    )
    endpoint = await admin.client.post(
        "/api/admin/webhooks/endpoints/",
        json={
            "url": "http://127.0.0.1:9/in",
            "event_types": ["order.placed"],
            "enabled": False,
        },
    )
    order = await customer.client.post(
        "/api/orders/", json={"items": [{"product_id": product.id, "quantity": 1}]}
    )
    for r in (line, promotion, endpoint, order):
        assert r.status_code == 201, r.text
    await run_tasks()  # the order's mail and events: nothing left to write in the background
    return World(
        ids={
            "product": product.id,
            "line": line.json()["id"],
            "promotion": promotion.json()["id"],
            "endpoint": endpoint.json()["id"],
            "order": order.json()["id"],
            "code": "SAVE1",
        },
        clients={"anon": client, "customer": customer.client, "admin": admin.client},
    )


# Every operation that takes a JSON body: who calls it, and a body it accepts (or answers
# with a 4xx of its own rule: a wrong password, an unknown code), into which bad values go.
BODY_OPERATIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/admin/auth/login/", "anon", {"email": "a@example.com", "password": "pw-123456"}),
    ("POST", "/api/admin/auth/totp/", "admin", {"password": "pw-123456"}),
    ("POST", "/api/admin/auth/totp/confirm/", "admin", {"otp": "123456"}),
    ("POST", "/api/admin/promotions/", "admin", {"kind": "fixed", "value": "2.00", "code": "X2"}),
    ("PATCH", "/api/admin/promotions/{promotion}/", "admin", {"label": "Two off"}),
    (
        "POST",
        "/api/admin/webhooks/endpoints/",
        "admin",
        {"url": "http://127.0.0.1:9/b", "event_types": ["order.placed"], "description": "d"},
    ),
    ("PATCH", "/api/admin/webhooks/endpoints/{endpoint}/", "admin", {"description": "d"}),
    (
        "POST",
        "/api/admin/webhooks/endpoints/{endpoint}/replay/",
        "admin",
        {"since": "2026-01-01T00:00:00Z"},
    ),
    ("POST", "/api/auth/google/", "anon", {"id_token": "a.b.c"}),
    ("POST", "/api/auth/login/", "anon", {"email": "c@example.com", "password": "pw-123456"}),
    ("POST", "/api/auth/logout/", "anon", {"refresh_token": "not-a-token"}),
    ("POST", "/api/auth/otp-login/", "anon", {"email": "c@example.com", "code": "123456"}),
    ("POST", "/api/auth/otp/request/", "anon", {"email": "new@example.com"}),
    (
        "POST",
        "/api/auth/signup/",
        "anon",
        {"email": "new@example.com", "password": "correct horse battery", "name": "New"},
    ),
    ("POST", "/api/auth/token/refresh/", "anon", {"refresh_token": "not-a-token"}),
    ("POST", "/api/cart/", "customer", {"product_id": "{product}", "quantity": 1}),
    ("POST", "/api/cart/promotions/", "customer", {"code": "SAVE1"}),
    ("PATCH", "/api/cart/{line}/", "customer", {"quantity": 2}),
    ("POST", "/api/orders/", "customer", {"items": [{"product_id": "{product}", "quantity": 1}]}),
    ("PATCH", "/api/orders/{order}/", "admin", {"status": "paid"}),
    ("POST", "/api/products/", "admin", {"sku": "NEW-1", "name": "New", "price": "1.00"}),
    (
        "PUT",
        "/api/products/{product}/",
        "admin",
        {
            "sku": "PUT-1",
            "name": "Put",
            "description": "d",
            "price": "3.00",
            "stock": 4,
            "is_active": True,
        },
    ),
    ("PATCH", "/api/products/{product}/", "admin", {"name": "Renamed"}),
]
OP_IDS = [f"{m} {p}" for m, p, _, _ in BODY_OPERATIONS]


def _fill(value: Any, world: World) -> Any:
    """The body with `"{product}"` placeholders replaced by the world's ids."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world.ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _string_fields(body: dict[str, Any]) -> list[str]:
    return [k for k, v in body.items() if isinstance(v, str) and not v.startswith("{")]


@pytest.fixture
def rows(deployment: Deployment) -> Callable[[], Awaitable[dict[str, int]]]:
    """`await rows()` → the number of rows of every table of the deployment."""

    async def count() -> dict[str, int]:
        async with deployment.kernel.db.session() as session:
            return {
                name: int(await session.scalar(select(func.count()).select_from(table(name))) or 0)
                for name in sorted(deployment.tables)
                if name != "alembic_version"
            }

    return count


@pytest.fixture
def refused(
    world: World, rows: Callable[[], Awaitable[dict[str, int]]]
) -> Callable[..., Awaitable[httpx.Response]]:
    """`await refused(method, path, who, **request)`: sends it and asserts the answer is a
    4xx problem+json that wrote nothing, with the server still healthy after."""

    async def send(
        method: str, path: str, who: str, *, statuses: tuple[int, ...] = (), **kw: Any
    ) -> httpx.Response:
        before = await rows()
        r = await world.clients[who].request(method, path, **kw)
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
        if statuses:
            assert r.status_code in statuses, (r.status_code, r.text[:500])
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        problem = r.json()
        assert problem["status"] == r.status_code and problem["title"], problem
        assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
        assert await rows() == before, "a refused request wrote rows"
        anon = world.clients["anon"]
        assert (await anon.get("/api/health/")).status_code == 200
        assert (await anon.get("/api/ready/")).status_code == 200
        return r

    return send


def test_every_json_body_operation_of_the_document_is_tried(document: dict[str, Any]) -> None:
    with_json = {
        f"{method.upper()} {path}"
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
        and path != "/api/products/bulk_upload/"
    }
    tried = {f"{m} {p}".replace("{promotion}", "{id}") for m, p, _, _ in BODY_OPERATIONS}
    tried = {
        t.replace("{endpoint}", "{id}")
        .replace("{line}", "{id}")
        .replace("{order}", "{id}")
        .replace("{product}", "{id}")
        for t in tried
    }
    assert with_json == tried


@pytest_asyncio.fixture(loop_scope="session")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    assert set(PLUGINS) <= set(installed_plugins())
    return (await client.get("/api/openapi.json")).json()  # type: ignore[no-any-return]


def _bodies_not_json(valid: bytes) -> dict[str, bytes]:
    return {
        "truncated": valid[: len(valid) // 2],
        "cut-in-a-utf8-character": valid[:-2] + "é".encode()[:1],
        "invalid-utf8": valid.replace(b'"', b'"\xff\xfe', 1),
        "overlong-utf8": valid.replace(b'"', b'"\xc0\xaf', 1),
        "lone-surrogate-escape": valid.replace(b'"', b'"\\ud800', 1),
        "nested-100000": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "utf16": valid.decode().encode("utf-16"),
        "trailing-garbage": valid + b" {}",
    }


@pytest.mark.parametrize(("method", "path", "who", "body"), BODY_OPERATIONS, ids=OP_IDS)
async def test_a_body_that_is_not_json_in_utf8_is_a_400(
    refused: Any, world: World, method: str, path: str, who: str, body: dict[str, Any]
) -> None:
    valid = json.dumps(_fill(body, world)).encode()
    for name, raw in _bodies_not_json(valid).items():
        r = await refused(
            method,
            world.path(path),
            who,
            content=raw,
            headers={"content-type": "application/json"},
            statuses=(400,),
        )
        assert "JSON" in r.json()["detail"], (name, r.json())


@pytest.mark.parametrize(("method", "path", "who", "body"), BODY_OPERATIONS, ids=OP_IDS)
async def test_deep_huge_and_wrongly_shaped_json_is_a_4xx(
    refused: Any, world: World, method: str, path: str, who: str, body: dict[str, Any]
) -> None:
    filled = _fill(body, world)
    first = (_string_fields(body) or list(body))[0]
    shapes = {
        "nested-500": {**filled, first: json.loads("[" * 500 + "]" * 500)},
        "null": None,
        "array": [filled],
        "string": "x",
        "number": 1,
        # Just under MAX_REQUEST_BYTES (1 MiB): read, then refused by the field's limit.
        "string-of-1000000": {**filled, first: "x" * 1_000_000},
        "10000-fields": {**filled, **{f"f{i}": i for i in range(10_000)}},
    }
    for name, data in shapes.items():
        r = await refused(
            method,
            world.path(path),
            who,
            content=json.dumps(data).encode(),
            headers={"content-type": "application/json"},
            statuses=(400, 401, 404, 422),
        )
        assert r.status_code != 401 or who == "anon", (name, r.json())
    over = json.dumps({**filled, first: "x" * (1024 * 1024)}).encode()
    await refused(
        method,
        world.path(path),
        who,
        content=over,
        headers={"content-type": "application/json"},
        statuses=(413,),
    )

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536  # no Content-Length: refused while streaming

    await refused(method, world.path(path), who, content=chunked(), statuses=(413,))


CONTROL_CASES = [
    (*op, field, name)
    for op in BODY_OPERATIONS
    for field in _string_fields(op[3])
    for name in CONTROL
]


@pytest.mark.parametrize(
    ("method", "path", "who", "body", "field", "char"),
    CONTROL_CASES,
    ids=[f"{c[0]} {c[1]} {c[4]} {c[5]}" for c in CONTROL_CASES],
)
async def test_a_control_character_in_any_string_field_is_a_4xx(
    refused: Any,
    world: World,
    method: str,
    path: str,
    who: str,
    body: dict[str, Any],
    field: str,
    char: str,
) -> None:
    filled = _fill(body, world)
    value = filled[field]
    bad = value[:1] + CONTROL[char] + value[1:]
    await refused(method, world.path(path), who, json={**filled, field: bad})


# Every operation that reads a query string, and what each parameter accepts.
QUERY_OPERATIONS = [
    ("/api/products/", "anon", ["page", "page_size", "search", "ordering", "min_price", "max_price", "in_stock"]),
    ("/api/orders/", "admin", ["page", "page_size", "status", "customer_id", "customer_email", "created_after", "created_before"]),
    ("/api/admin/promotions/", "admin", ["page", "page_size"]),
    ("/api/admin/webhooks/endpoints/", "admin", ["page", "page_size"]),
    ("/api/admin/webhooks/endpoints/{endpoint}/deliveries/", "admin", ["page", "page_size", "status"]),
]  # fmt: skip
QUERY_CASES = [(path, who, param) for path, who, params in QUERY_OPERATIONS for param in params]


def test_every_query_parameter_of_the_document_is_tried(document: dict[str, Any]) -> None:
    documented = {
        (path, p["name"])
        for path, ops in document["paths"].items()
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["in"] == "query"
    }
    tried = {(path.replace("{endpoint}", "{id}"), param) for path, _, param in QUERY_CASES}
    assert documented == tried


@pytest.mark.parametrize(
    ("path", "who", "param"), QUERY_CASES, ids=[f"{c[0]} {c[2]}" for c in QUERY_CASES]
)
async def test_control_characters_long_values_and_odd_numbers_in_a_query_are_a_4xx(
    refused: Any, rows: Any, world: World, path: str, who: str, param: str
) -> None:
    values = [
        *(f"a{c}b" for c in CONTROL.values()),
        "x" * 10_000,
        "-1",
        "0",
        str(2**63),
        str(2**64),
        "1e3",
        " 1",
        ARABIC_ONE,  # an Arabic-Indic digit: int() would take it
        "",
    ]
    client = world.clients[who]
    for value in values:
        before = await rows()
        r = await client.get(world.path(path), params={param: value})
        # A filter may match nothing, a page size is clamped: 200; anything else a 4xx.
        assert r.status_code in (200, 400, 404, 422), (value, r.status_code, r.text[:300])
        if r.status_code != 200:
            assert r.headers["content-type"].startswith("application/problem+json")
        assert await rows() == before
    # A control character or a value longer than any parameter takes is always refused.
    for value in [*(f"a{c}b" for c in CONTROL.values()), "x" * 10_000]:
        await refused("GET", world.path(path), who, params={param: value}, statuses=(400, 422))


# Every operation whose path names a thing by id.
ID_OPERATIONS = [
    ("GET", "/api/products/{id}/", "anon"),
    ("PUT", "/api/products/{id}/", "admin"),
    ("PATCH", "/api/products/{id}/", "admin"),
    ("DELETE", "/api/products/{id}/", "admin"),
    ("GET", "/api/products/{id}/sold_count/", "anon"),
    ("PATCH", "/api/cart/{id}/", "customer"),
    ("DELETE", "/api/cart/{id}/", "customer"),
    ("GET", "/api/orders/{id}/", "customer"),
    ("DELETE", "/api/orders/{id}/", "customer"),
    ("PATCH", "/api/orders/{id}/", "admin"),
    ("GET", "/api/admin/promotions/{id}/", "admin"),
    ("PATCH", "/api/admin/promotions/{id}/", "admin"),
    ("DELETE", "/api/admin/promotions/{id}/", "admin"),
    ("GET", "/api/admin/webhooks/endpoints/{id}/", "admin"),
    ("PATCH", "/api/admin/webhooks/endpoints/{id}/", "admin"),
    ("DELETE", "/api/admin/webhooks/endpoints/{id}/", "admin"),
    ("GET", "/api/admin/webhooks/endpoints/{id}/deliveries/", "admin"),
    ("POST", "/api/admin/webhooks/endpoints/{id}/replay/", "admin"),
    ("POST", "/api/admin/webhooks/endpoints/{id}/rotate-secret/", "admin"),
    ("POST", "/api/admin/webhooks/deliveries/{id}/replay/", "admin"),
    ("GET", "/api/products/bulk_upload/{id}/", "admin"),
    ("DELETE", "/api/cart/promotions/{id}/", "customer"),
]
BAD_IDS = [
    "-1",
    "0",
    str(2**63),
    str(2**64),
    str(2**63 - 1),
    "1e3",
    "%201",
    "1%20",
    "0x1",
    ARABIC_ONE,
    "1.0",
    "%00",
    "%1b",
]


def test_every_operation_with_an_id_is_tried(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path.replace("{job_id}", "{id}").replace("{code}", "{id}"))
        for path, ops in document["paths"].items()
        for method in ops
        if "{" in path
    }
    assert documented == {(m, p) for m, p, _ in ID_OPERATIONS}


@pytest.mark.parametrize(
    ("method", "path", "who"), ID_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in ID_OPERATIONS]
)
async def test_an_id_of_any_size_sign_or_spelling_is_a_404(
    refused: Any, world: World, method: str, path: str, who: str
) -> None:
    bodies = {
        (m, p.format(**dict.fromkeys(world.ids, "{id}"))): b for m, p, _, b in BODY_OPERATIONS
    }
    body = bodies.get((method, path))
    for bad in BAD_IDS:
        kw: dict[str, Any] = {"json": _fill(body, world)} if body is not None else {}
        await refused(method, path.replace("{id}", bad), who, statuses=(404,), **kw)


async def test_quantities_at_and_past_every_bound(
    refused: Any, world: World, make_product: Any
) -> None:
    customer = world.clients["customer"]
    product = (await make_product(price="1.00", stock=5)).id
    for quantity in (0, -1, 1_000_001, 2**31, 2**63, 2**64, 1.0, 1.5, "1", True, None, "1e3"):
        await refused(
            "POST",
            "/api/cart/",
            "customer",
            json={"product_id": product, "quantity": quantity},
            statuses=(422,),
        )
        await refused(
            "PATCH",
            world.path("/api/cart/{line}/"),
            "customer",
            json={"quantity": quantity},
            statuses=(422,),
        )
        await refused(
            "POST",
            "/api/orders/",
            "customer",
            json={"items": [{"product_id": product, "quantity": quantity}]},
            statuses=(422,),
        )
    # At the bound of the stock: 5 fit, 6 do not (409 names the line).
    await refused(
        "POST",
        "/api/cart/",
        "customer",
        json={"product_id": product, "quantity": 6},
        statuses=(409,),
    )
    await refused(
        "POST",
        "/api/orders/",
        "customer",
        json={"items": [{"product_id": product, "quantity": 6}]},
        statuses=(409,),
    )
    r = await customer.post(
        "/api/orders/", json={"items": [{"product_id": product, "quantity": 5}]}
    )
    assert r.status_code == 201, r.text
    # The most units one line may have (1,000,000) is taken when the stock has them.
    big = (await make_product(price="0.01", stock=1_000_000)).id
    r = await customer.post(
        "/api/orders/", json={"items": [{"product_id": big, "quantity": 1_000_000}]}
    )
    assert r.status_code == 201 and r.json()["total"] == "10000.00", r.text


async def test_prices_and_stock_at_and_past_every_bound(
    refused: Any, world: World, make_product: Any
) -> None:
    admin = world.clients["admin"]
    ok = {"sku": "B-1", "name": "Bound", "price": "999999999999.99", "stock": 2_000_000_000}
    r = await admin.post("/api/products/", json=ok)
    assert r.status_code == 201 and r.json()["price"] == "999999999999.99", r.text
    for price in (
        "1000000000000.00",
        "-0.01",
        "0.001",
        "1e3",
        "NaN",
        "Infinity",
        " 1.00",
        "1,00",
        "",
        19.99,
        19,
        True,
        None,
        "0x10",
        ARABIC_ONE,
    ):
        await refused(
            "POST",
            "/api/products/",
            "admin",
            json={**ok, "sku": "B-2", "price": price},
            statuses=(422,),
        )
        await refused(
            "PATCH",
            world.path("/api/products/{product}/"),
            "admin",
            json={"price": price},
            statuses=(422,),
        )
    for stock in (-1, 2_000_000_001, 2**63, 1.5, "1", True):
        await refused(
            "POST",
            "/api/products/",
            "admin",
            json={**ok, "sku": "B-2", "stock": stock},
            statuses=(422,),
        )
    for value, kind in (
        ("100.01", "percentage"),
        ("0", "percentage"),
        ("0.00", "fixed"),
        ("-1.00", "fixed"),
    ):
        await refused(
            "POST",
            "/api/admin/promotions/",
            "admin",
            json={"kind": kind, "value": value},
            statuses=(422,),
        )
    for limit in (0, -1, 2**31, 2**63):
        await refused(
            "POST",
            "/api/admin/promotions/",
            "admin",
            json={"kind": "fixed", "value": "1.00", "usage_limit": limit},
            statuses=(422,),
        )
        await refused(
            "PATCH",
            world.path("/api/admin/promotions/{promotion}/"),
            "admin",
            json={"per_customer_limit": limit},
            statuses=(422,),
        )
    # A total past what the money columns hold is refused, never rounded.
    dear = (await make_product(price="999999999999.99", stock=10)).id
    r = await refused(
        "POST", "/api/orders/", "customer", json={"items": [{"product_id": dear, "quantity": 2}]}
    )
    assert r.status_code in (409, 422), r.json()
    # The same from the cart (which may hold it: its lines are quantities, not money).
    customer = world.clients["customer"]
    await customer.delete(world.path("/api/cart/{line}/"))
    added = await customer.post("/api/cart/", json={"product_id": dear, "quantity": 2})
    assert added.status_code == 201, added.text
    r = await refused("POST", "/api/orders/", "customer")
    assert r.status_code in (409, 422), r.json()


async def test_an_oversized_upload_streamed_without_a_length_is_a_413_and_queues_nothing(
    refused: Any,
) -> None:
    rows = b"sku,name,price\n" + b"".join(b"S-%d,Name %d,1.00\n" % (i, i) for i in range(5000))
    assert len(rows) > BULK_LIMIT

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(rows), 4096):
            yield rows[i : i + 4096]

    await refused(
        "POST",
        "/api/products/bulk_upload/",
        "admin",
        content=stream(),
        headers={"content-type": "text/csv"},
        statuses=(413,),
    )
    files = {"file": ("p.csv", rows, "text/csv")}
    await refused("POST", "/api/products/bulk_upload/", "admin", files=files, statuses=(413,))
    # A Content-Length that lies (smaller than the body) changes nothing.
    await refused(
        "POST",
        "/api/products/bulk_upload/",
        "admin",
        content=stream(),
        headers={"content-type": "text/csv", "content-length": "10"},
        statuses=(400, 413),
    )
    # Files that cannot be read at all: refused whole, nothing queued.
    unreadable = {
        "not-utf8": (b"\xff\xfe\x00\x00", "text/csv"),
        "nul-header": (b"\x00" * 100, "text/csv"),
        "nested-json": (b"[" * 100_000, "application/json"),
        "truncated-json": (b'[{"sku": "A", "name": "x", "price": "1.0', "application/json"),
    }
    for name, (junk, content_type) in unreadable.items():
        r = await refused(
            "POST",
            "/api/products/bulk_upload/",
            "admin",
            content=junk,
            headers={"content-type": content_type},
            statuses=(413, 422),
        )
        assert r.json()["detail"], name


@pytest_asyncio.fixture(loop_scope="session")
async def socket_to(live_server: str) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    from websockets.asyncio.client import connect

    opened: list[Any] = []

    async def open_one() -> Any:
        ws = await connect(live_server.replace("http", "ws") + "/ws/live-counts/", open_timeout=10)
        opened.append(ws)
        return ws

    yield open_one
    for ws in opened:
        with contextlib.suppress(Exception):
            await ws.close()


@pytest.mark.parametrize(
    "frame",
    [
        '{"subscribe": [1]}\x00',
        '{"subscribe": ["\x1b[2J"]}',
        '{"subscribe": [1], "x": "\u2028"}',
        # Under the frame limit (16 KiB; over it the socket is closed, as live_counts tests).
        '{"subscribe": ' + "[" * 5_000 + "]" * 5_000 + "}",
        '{"subscribe": [' + ",".join(["9" * 30] * 100) + "]}",
        '{"subscribe": [0]}',
        '{"subscribe": [' + str(2**63) + "]}",
        '{"subscribe": [' + str(2**64) + "]}",
        '{"subscribe": ["1e3"]}',
        '{"subscribe": [1e3]}',
        '{"subscribe": [" 1"]}',
        '{"subscribe": [-1]}',
    ],
    ids=[
        "nul-after",
        "esc",
        "u2028",
        "nested",
        "huge-ids",
        "0",
        "2^63",
        "2^64",
        "str-1e3",
        "1e3",
        "space-1",
        "-1",
    ],
)
async def test_a_bad_websocket_frame_is_answered_and_the_socket_stays_usable(
    socket_to: Any, make_product: Any, rows: Any, frame: str
) -> None:
    p = await make_product()
    ws = await socket_to()
    before = await rows()
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    if reply["type"] == "snapshot":
        # An id no product has is ignored, as the contract says.
        assert reply["counts"] == {}, reply
    else:
        assert reply["type"] == "error" and reply["detail"], reply
    await ws.send(json.dumps({"subscribe": [p.id]}))
    snapshot = json.loads(await ws.recv())
    assert snapshot["type"] == "snapshot" and snapshot["counts"] == {str(p.id): 0}
    assert await rows() == before


async def test_invalid_utf8_in_a_text_frame_closes_the_socket_with_1007(
    socket_to: Any, live_server: str
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Frame, Opcode

    ws = await socket_to()
    # A text frame whose bytes are not UTF-8: the protocol says close with 1007.
    ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"subscribe": [\xff]}'))
    ws.send_data()
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1007
    async with httpx.AsyncClient(base_url=live_server) as c:
        assert (await c.get("/api/health/")).status_code == 200


async def test_bulk_rows_with_nested_numbers_and_integers_past_64_bits_fail_alone(
    world: World, rows: Any, run_tasks: Any
) -> None:
    """Such rows once made the upload a 500 (a chunk could not be stored as JSON): each is
    now a failed row of the job, the good row is stored."""
    admin = world.clients["admin"]
    body = (
        b'[{"sku": "N-1", "name": "n", "price": "1.00", "stock": 123456789012345678901234567890},'
        b' {"sku": "N-2", "name": "n", "price": "1.00", "is_active": {"x": 1.5e-300}},'
        b' {"sku": "N-3", "name": [0.1, 2e400, -7e3], "price": "1.00"},'
        b' {"sku": "N-4", "name": "good", "price": "1.00"}]'
    )
    before = (await rows())["products"]
    r = await admin.post(
        "/api/products/bulk_upload/", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 202, r.text
    await run_tasks()
    job = (await admin.get(r.json()["status_url"])).json()
    assert job["status"] == "succeeded" and job["created"] == 1 and job["failed"] == 3, job
    assert sorted(e["sku"] for e in job["errors"]) == ["N-1", "N-2", "N-3"], job["errors"]
    assert (await rows())["products"] == before + 1
