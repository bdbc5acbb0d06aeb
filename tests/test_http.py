"""The HTTP edges every plugin shares: problem+json, limits, request ids, hosts, docs."""

import json
import logging
import re

import httpx
import pytest

from tests.helpers import probe

PROBLEM = "application/problem+json"


@pytest.fixture(scope="session")
def commerce_extra_plugins():
    return [probe]


@pytest.fixture(scope="session")
def commerce_settings():
    return {"MAX_REQUEST_BYTES": "2048", "CORS_ALLOWED_ORIGINS": "https://shop.example"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


async def test_unknown_path_is_a_404_problem(client):
    assert_problem(await client.get("/api/nothing-here/"), 404)


async def test_wrong_method_is_a_405_problem_with_allow(client):
    r = await client.delete("/api/health/")
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


async def test_malformed_json_is_a_400_problem(client):
    r = await client.post(
        "/api/probe/echo/", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    body = assert_problem(r, 400)
    assert "Malformed JSON" in body["detail"]


async def test_validation_failure_is_422_with_locations(client):
    r = await client.post("/api/probe/echo/", json={"name": "", "quantity": 0})
    body = assert_problem(r, 422)
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [
        ("body", "name"),
        ("body", "quantity"),
    ]
    assert all(e["msg"] for e in body["errors"])


async def test_a_json_array_where_an_object_is_expected_is_422(client):
    assert_problem(await client.post("/api/probe/echo/", json=[1, 2]), 422)


async def test_oversized_body_is_a_413_problem(client):
    r = await client.post(
        "/api/probe/echo/", content=b"x" * 5000, headers={"content-type": "application/json"}
    )
    assert_problem(r, 413)


async def test_oversized_chunked_body_is_refused_while_streaming(client):
    async def chunks():
        for _ in range(10):
            yield b" " * 1000

    r = await client.post(
        "/api/probe/echo/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(r, 413)


async def test_unexpected_error_is_a_500_problem_without_internals(client, caplog):
    with caplog.at_level(logging.ERROR):
        r = await client.get("/api/probe/boom/")
    body = assert_problem(r, 500)
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert body["detail"] == "An unexpected error occurred."
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


async def test_request_id_is_generated_or_echoed(client):
    generated = (await client.get("/api/health/")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    echoed = await client.get("/api/health/", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/api/health/", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["x-request-id"] != "a b\tc"


async def test_requests_are_logged_as_json_lines(client, customer, caplog):
    from commerce_kernel.logging import JSONFormatter

    with caplog.at_level(logging.INFO, logger="commerce.access"):
        await customer.client.get("/api/auth/me/", headers={"X-Request-ID": "req-42"})
    record = next(r for r in caplog.records if r.name == "commerce.access")
    line = json.loads(JSONFormatter().format(record))
    assert line["method"] == "GET" and line["path"] == "/api/auth/me/" and line["status"] == 200
    assert line["account_id"] == customer.id and line["duration_ms"] >= 0
    assert line["request_id"] == "req-42"


async def test_unknown_host_is_refused(app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://evil.example"
    ) as c:
        assert_problem(await c.get("/api/health/"), 400)


async def test_path_without_trailing_slash_works_too(client):
    assert (await client.get("/api/health")).status_code == 200
    r = await client.post("/api/probe/echo", json={"name": "a", "quantity": 1})
    assert r.status_code == 200 and r.json() == {"name": "a", "quantity": 1}


async def test_cors_preflight_for_configured_origin(client):
    r = await client.options(
        "/api/probe/echo/",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    other = await client.get("/api/health/", headers={"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_health_and_ready(client):
    assert (await client.get("/api/health/")).json() == {"status": "ok"}
    ready = await client.get("/api/ready/")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_openapi_document_describes_the_loaded_routes(client):
    doc = (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/health/", "/api/auth/me/", "/api/probe/echo/"} <= set(doc["paths"])
    echo = doc["paths"]["/api/probe/echo/"]["post"]
    schema = echo["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/EchoIn"}
    assert doc["components"]["schemas"]["EchoIn"]["required"] == ["name", "quantity"]
    assert "422" in echo["responses"]
    me = doc["paths"]["/api/auth/me/"]["get"]
    assert me["security"] == [{"bearerAuth": []}] and "401" in me["responses"]
    assert [p["name"] for p in doc["x-plugins"]] == ["kernel", "probe"]


async def test_docs_page_needs_nothing_from_the_internet(client):
    page = await client.get("/api/docs/")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets)
    for asset in assets:
        assert (await client.get(asset)).status_code == 200
    assert "/api/openapi.json" in (await client.get("/api/docs/init.js")).text
