"""docs/api.md and the OpenAPI document agree, and the document tells the truth a client
generator relies on: which bodies are required, which statuses each operation answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from commerce_catalog import api as catalog

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "api.md"
PROBLEM = "application/problem+json"
# Named in the guide, served, and on purpose not operations of the document: the document
# itself, its rendering, the redirect to it and the live_counts page for people.
OUTSIDE_DOCUMENT = {
    ("GET", "/"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs/"),
    ("GET", "/live/"),
}
# `METHOD /path/` in backticks, in a heading, a list or a sentence; a query string is ignored.
NAMED = re.compile(r"`(GET|POST|PUT|PATCH|DELETE|WS) (/[^`\s?]*)[^`]*`")

make_product = catalog.make_product  # the catalog's fixture, for these tests too


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    """Every plugin this repository ships (plugins/<name>/)."""
    return sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200
    return r.json()


def guide_operations() -> set[tuple[str, str]]:
    return {(m, path) for m, path in NAMED.findall(GUIDE.read_text(encoding="utf-8"))}


def document_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    http = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    return http | {("WS", w["path"]) for w in doc["x-websockets"]}


def show(ops: set[tuple[str, str]]) -> str:
    return ", ".join(f"{m} {p}" for m, p in sorted(ops, key=lambda o: (o[1], o[0]))) or "none"


async def test_the_guide_and_the_document_name_the_same_operations(document, client):
    in_guide = guide_operations()
    in_doc = document_operations(document)
    assert ("WS", "/ws/live-counts/") in in_doc, "the WebSocket channel is in x-websockets"
    missing = in_doc - in_guide
    unknown = in_guide - in_doc - OUTSIDE_DOCUMENT
    assert not missing and not unknown, (
        f"docs/api.md does not name: {show(missing)}; "
        f"docs/api.md names what the document has not: {show(unknown)}"
    )
    for method, path in sorted(in_guide & OUTSIDE_DOCUMENT):
        r = await client.request(method, path)
        assert r.status_code < 400, f"docs/api.md names {method} {path}: {r.status_code}"


def test_the_readme_points_at_the_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/api.md" in readme
    assert "../shared/" not in readme, "the README must not point outside the repository"


async def test_the_document_is_valid_openapi_3_1(document):
    validator = pytest.importorskip("openapi_spec_validator")
    assert document["openapi"].startswith("3.1")
    validator.validate(document)


# --- statuses and bodies: what the server answers is what the document lists -------------------


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method.lower()]


def assert_listed(doc: dict[str, Any], method: str, path: str, r: httpx.Response) -> None:
    listed = operation(doc, method, path)["responses"]
    assert str(r.status_code) in listed, (
        f"{method} {path} answered {r.status_code} ({r.text[:200]}), "
        f"the document lists {sorted(listed)}"
    )
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]


BULK = "/api/products/bulk_upload/"


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "application/xml"}, {"content-type": "text/plain"}, {}],
    ids=["xml", "text", "none"],
)
async def test_a_bulk_upload_of_another_media_type_is_415(document, admin_client, headers):
    r = await admin_client.post(
        BULK, content=b"<products><sku>A-1</sku></products>", headers=headers
    )
    assert r.status_code == 415, r.text
    assert_listed(document, "POST", BULK, r)
    accepted = set(operation(document, "POST", BULK)["requestBody"]["content"])
    assert set(r.headers["accept-post"].split(", ")) == accepted
    assert "multipart/form-data" in r.json()["detail"]


async def test_every_media_type_the_bulk_upload_lists_is_taken(document, admin_client, kernel):
    bodies = {
        "text/csv": b"sku,name,price\nM-1,Mug,4.00\n",
        "application/x-ndjson": b'{"sku": "M-2", "name": "Mug", "price": "4.00"}\n',
        "application/jsonl": b'{"sku": "M-3", "name": "Mug", "price": "4.00"}\n',
        "application/json": b'[{"sku": "M-4", "name": "Mug", "price": "4.00"}]',
    }
    content = operation(document, "POST", BULK)["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", *bodies}
    for media_type, body in bodies.items():
        r = await admin_client.post(BULK, content=body, headers={"content-type": media_type})
        assert r.status_code == 202, (media_type, r.text)
    r = await admin_client.post(BULK, files={"file": ("p.csv", bodies["text/csv"], "text/csv")})
    assert r.status_code == 202, r.text
    await kernel.queue.drain(timeout=60)


async def test_a_multipart_bulk_upload_without_a_file_is_422(document, admin_client):
    r = await admin_client.post(BULK, files={"other": ("p.csv", b"sku\nA-1\n", "text/csv")})
    assert r.status_code == 422, r.text
    assert_listed(document, "POST", BULK, r)
    assert r.json()["errors"][0]["loc"] == ["body", "file"]


async def test_optional_bodies_are_optional_and_required_ones_required(
    document, client, customer_client, admin_client, make_product
):
    # Ordering the cart needs no body: an empty cart is the only complaint.
    assert operation(document, "POST", "/api/orders/")["requestBody"]["required"] is False
    r = await customer_client.post("/api/orders/")
    assert r.status_code == 409, r.text
    assert_listed(document, "POST", "/api/orders/", r)
    # Every PATCH field is optional: an empty PATCH changes nothing.
    assert operation(document, "PATCH", "/api/products/{id}/")["requestBody"]["required"] is False
    product = await make_product()
    r = await admin_client.patch(f"/api/products/{product.id}/")
    assert r.status_code == 200, r.text
    # No field of Google sign-in is required alone, but it needs id_token or code: required.
    assert operation(document, "POST", "/api/auth/google/")["requestBody"]["required"] is True
    r = await client.post("/api/auth/google/")
    assert r.status_code == 422, r.text
    assert_listed(document, "POST", "/api/auth/google/", r)


async def test_the_statuses_the_kernel_answers_are_listed(
    document, client, customer_client, admin_client
):
    bad_token = {"authorization": "Bearer not-a-token"}
    cases: list[tuple[httpx.AsyncClient, str, str, str, dict[str, Any], int]] = [
        # Public operations read a token when one is sent: a bad one is 401 there too.
        (client, "GET", "/api/products/", "/api/products/", {"headers": bad_token}, 401),
        (client, "GET", "/api/products/", "/api/products/", {"headers": bad_token}, 401),
        (
            client,
            "POST",
            "/api/auth/token/refresh/",
            "/api/auth/token/refresh/",
            {"headers": bad_token, "json": {"refresh_token": "x"}},
            401,
        ),
        # Bodies: size limit, malformed JSON, validation.
        (
            client,
            "POST",
            "/api/auth/signup/",
            "/api/auth/signup/",
            {"content": b'{"email": "' + b"a" * 1_100_000 + b'"}'},
            413,
        ),
        (customer_client, "POST", "/api/cart/", "/api/cart/", {"content": b'{"product_id":'}, 400),
        (customer_client, "POST", "/api/cart/", "/api/cart/", {"json": {"quantity": 1}}, 422),
        # Queries and pages.
        (customer_client, "GET", "/api/orders/?page=0", "/api/orders/", {}, 422),
        (customer_client, "GET", "/api/orders/?page=9", "/api/orders/", {}, 404),
        # Guards: the wrong kind of token.
        (admin_client, "GET", "/api/cart/", "/api/cart/", {}, 403),
        (customer_client, "POST", "/api/products/", "/api/products/", {"json": {}}, 403),
        (client, "GET", "/api/auth/me/", "/api/auth/me/", {}, 401),
    ]
    for c, method, url, path, kwargs, status in cases:
        r = await c.request(method, url, **kwargs)
        assert r.status_code == status, (method, url, r.status_code, r.text[:200])
        assert_listed(document, method, path, r)
