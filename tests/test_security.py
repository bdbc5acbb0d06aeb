"""The edges of issue 9: security headers, `no-store` on credentials, no server banner, SQL
parameters kept out of logs, the Host header parsed strictly, owner-only embedded files, and
production refusing to write its mail to the log."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from commerce_kernel import Plugin, hookimpl
from commerce_kernel.db import Database
from commerce_kernel.mail import FileMailer, LogMailer, MailToLogRefused, refuse_mail_to_log
from commerce_kernel.middleware import RequestMiddleware
from commerce_kernel.security import parse_host
from commerce_kernel.settings import SECRET_KEY_FILE, Settings
from commerce_kernel.testing import free_port

MARKER = "bound-value-7f3a9c"  # a value that must never reach a log line

# --- a test plugin with the responses the middleware must handle ---------------------------


async def sql_error(request: Request) -> Response:
    kernel = request.app.state.kernel
    async with kernel.db.session() as session:
        await session.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": MARKER})
    return Response()  # pragma: no cover


async def html_page(request: Request) -> Response:
    return HTMLResponse("<p>hi</p>")


async def html_with_csp(request: Request) -> Response:
    return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})


async def streamed_token(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"items": [], '
        await asyncio.sleep(0)
        yield b'"access_token": "t"}'

    return StreamingResponse(chunks(), media_type="application/json")


async def cached_token(request: Request) -> Response:
    return Response(
        b'{"refresh_token": "r"}',
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=600", "Referrer-Policy": "same-origin"},
    )


edges = types.ModuleType("security_edges")
edges.plugin = Plugin(name="security_edges", version="0.0.1")


@hookimpl
def routes(kernel: Any) -> list[BaseRoute]:
    return [
        Route("/api/edges/sql-error/", sql_error),
        Route("/api/edges/html/", html_page),
        Route("/api/edges/html-csp/", html_with_csp),
        Route("/api/edges/streamed-token/", streamed_token),
        Route("/api/edges/cached-token/", cached_token),
    ]


edges.routes = routes


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[types.ModuleType]:
    return [edges]


# --- security headers ----------------------------------------------------------------------


def assert_common_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


async def test_every_response_has_nosniff_and_referrer_policy(client, app):
    for r in [
        await client.get("/api/health/"),
        await client.get("/api/nothing-here/"),  # 404 problem
        await client.delete("/api/health/"),  # 405 problem
        await client.get("/api/docs/static/swagger-ui.css"),
        await client.get("/api/openapi.json"),
    ]:
        assert_common_headers(r)
        assert "x-frame-options" not in r.headers  # only HTML pages
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://evil.example"
    ) as other:
        refused = await other.get("/api/health/")
    assert refused.status_code == 400
    assert_common_headers(refused)


async def test_unhandled_error_keeps_sql_parameters_out_of_the_log(client, caplog):
    with caplog.at_level(logging.ERROR):
        r = await client.get("/api/edges/sql-error/")
    assert r.status_code == 500
    assert_common_headers(r)
    [record] = [rec for rec in caplog.records if rec.exc_info]
    logged = logging.Formatter().format(record)
    assert "no_such_table" in logged  # the statement is there, its values are not
    assert MARKER not in logged and MARKER not in r.text


async def test_html_pages_cannot_be_framed(client):
    page = await client.get("/api/edges/html/")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    own = await client.get("/api/edges/html-csp/")
    assert own.headers["x-frame-options"] == "DENY"
    assert own.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"


async def test_docs_page_has_a_strict_csp(client):
    page = await client.get("/api/docs/")
    csp = {
        d.strip().split(" ", 1)[0]: d.strip()
        for d in page.headers["content-security-policy"].split(";")
    }
    assert csp["default-src"] == "default-src 'self'"
    assert csp["script-src"] == "script-src 'self'"  # no inline script, no eval
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    assert "unsafe" not in page.headers["content-security-policy"]


# --- no-store on every response that carries a credential ----------------------------------


async def test_token_refresh_is_never_stored(client, customer):
    r = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    assert r.status_code == 200 and r.json()["access_token"]
    assert r.headers["cache-control"] == "no-store"
    assert_common_headers(r)
    assert "cache-control" not in (await client.get("/api/health/")).headers
    me = await customer.client.get("/api/auth/me/")
    assert me.status_code == 200 and "cache-control" not in me.headers


async def test_a_streamed_or_cacheable_json_credential_is_not_stored(client):
    streamed = await client.get("/api/edges/streamed-token/")
    assert streamed.json() == {"items": [], "access_token": "t"}
    assert streamed.headers["cache-control"] == "no-store"
    cached = await client.get("/api/edges/cached-token/")
    assert cached.headers["cache-control"] == "no-store"  # a handler's caching loses
    assert cached.headers["referrer-policy"] == "same-origin"  # its other choices stay


# --- the Host header, parsed strictly ------------------------------------------------------

MALFORMED_HOSTS = [
    b"127.0.0.1:x@evil.com",
    b"localhost:8000@evil.com",
    b"evil.com@localhost",
    b"localhost:80:80",
    b"localhost:",
    b"localhost:99999",
    b"localhost:-1",
    b"localhost:+80",
    b"localhost/evil",
    b"localhost?x",
    b"localhost#frag",
    b"local host",
    b" localhost",
    b"localhost..",
    b".localhost",
    b"",
    b"[::1",
    b"[::1]x",
    b"[not-an-address]",
    "l\u00f3calhost".encode(),
    b"localhost\x00",
]

WELL_FORMED_HOSTS = [
    b"localhost",
    b"LOCALHOST",
    b"localhost:8000",
    b"localhost.",
    b"127.0.0.1",
    b"127.0.0.1:65535",
]


async def asgi_status(app: Any, headers: list[tuple[bytes, bytes]]) -> int:
    """Status of GET /api/health/ with exactly these headers (no client library between)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/health/",
        "raw_path": b"/api/health/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.mark.parametrize("host", MALFORMED_HOSTS, ids=repr)
async def test_malformed_host_is_refused(app, host):
    assert parse_host(host) is None
    assert await asgi_status(app, [(b"host", host)]) == 400


@pytest.mark.parametrize("host", WELL_FORMED_HOSTS, ids=repr)
async def test_well_formed_allowed_host_is_served(app, host):
    assert await asgi_status(app, [(b"host", host)]) == 200


async def test_two_host_headers_are_refused(app):
    assert await asgi_status(app, [(b"host", b"localhost"), (b"host", b"evil.com")]) == 400


def test_parse_host_forms():
    assert parse_host(b"Shop.Example.COM:443") == "shop.example.com"
    assert parse_host(b"shop.example.com.") == "shop.example.com"
    assert parse_host(b"[::1]:8000") == "[::1]"
    assert parse_host(b"[2001:db8::1]") == "[2001:db8::1]"
    assert parse_host(b"127.0.0.1:0") == "127.0.0.1"


async def test_malformed_host_is_refused_even_when_any_host_is_allowed():
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await Response("ok")(scope, receive, send)

    any_host = RequestMiddleware(ok, allowed_hosts=["*"])
    assert await asgi_status(any_host, [(b"host", b"shop.example")]) == 200
    assert await asgi_status(any_host, []) == 200  # HTTP/1.0 without Host
    assert await asgi_status(any_host, [(b"host", b"127.0.0.1:x@evil.com")]) == 400


# --- the real server: no banner, headers on the wire, strict Host on a socket --------------


def raw_get(port: int, host: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/health/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def check_server(url: str) -> None:
    r = httpx.get(f"{url}/api/health/")
    assert r.status_code == 200
    assert "server" not in r.headers
    assert_common_headers(r)
    port = int(url.rsplit(":", 1)[1])
    refused = raw_get(port, b"127.0.0.1:x@evil.com")
    assert refused.startswith(b"HTTP/1.1 400 "), refused[:200]
    assert b"\r\nserver:" not in refused.lower()


def test_commerce_serve_sends_no_server_banner(spawn):
    check_server(spawn("serve").url)


def test_commerce_serve_with_several_workers_sends_no_server_banner(spawn, kernel):
    if not kernel.settings.redis_url:
        pytest.skip("several workers need REDIS_URL (the MariaDB + Redis run)")
    check_server(spawn("serve", "--workers", "2").url)


# --- SQL parameters hidden -----------------------------------------------------------------


async def test_database_errors_do_not_carry_bound_values(kernel):
    with pytest.raises(DBAPIError) as caught:
        async with kernel.db.session() as session:
            await session.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": MARKER})
    assert MARKER not in str(caught.value)
    assert "hide_parameters" in str(caught.value)


# --- owner-only embedded files -------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Any:
    old = os.umask(0o022)  # what a login shell has: new files 0644 unless asked otherwise
    yield
    os.umask(old)


async def test_sqlite_database_and_its_wal_files_are_owner_only(tmp_path, usual_umask):
    path = tmp_path / "commerce.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (x TEXT)"))
            await session.execute(text("INSERT INTO t VALUES ('secret')"))
        files = [path, tmp_path / "commerce.db-wal", tmp_path / "commerce.db-shm"]
        assert all(f.exists() for f in files)  # WAL: both exist while a connection is open
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await db.dispose()


async def test_an_existing_database_file_keeps_its_mode(tmp_path, usual_umask):
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    db = Database(f"sqlite:///{path}")
    try:
        await db.ping()
    finally:
        await db.dispose()
    assert mode(path) == 0o640


def test_generated_secret_key_file_is_owner_only(tmp_path, monkeypatch, usual_umask):
    monkeypatch.chdir(tmp_path)
    created: list[int] = []
    real_open = os.open

    def watching_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith(SECRET_KEY_FILE) and flags & os.O_CREAT:
            created.append(mode)
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", watching_open)
    key = Settings().resolved_secret_key()
    assert created == [0o600]  # owner-only from the start, not chmod-ed after writing
    assert mode(tmp_path / SECRET_KEY_FILE) == 0o600
    assert Settings().resolved_secret_key() == key


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env = {k: v for k, v in env.items() if not k.startswith("COMMERCE_")}
    return {**env, "LOG_LEVEL": "WARNING", "COMMERCE_PLUGINS": "kernel", **extra}


def commerce(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("commerce")), *args],
        cwd=cwd,
        env=_cli_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def test_embedded_default_files_are_created_owner_only(tmp_path):
    assert commerce(tmp_path, "migrate").returncode == 0
    r = commerce(tmp_path, "createsuperuser", "--email", "admin@example.com", "--no-password")
    assert r.returncode == 0, r.stderr
    made = {p.name: mode(p) for p in tmp_path.iterdir()}
    assert made.keys() >= {"commerce.db", SECRET_KEY_FILE}
    assert made == {name: 0o600 for name in made}


# --- production refuses to write its mail to the log ---------------------------------------


def test_production_with_mail_to_the_log_is_refused(tmp_path):
    production = Settings(database_url="mysql://shop@127.0.0.1/shop", secret_key="k" * 40)
    with pytest.raises(MailToLogRefused, match="EMAIL_HOST is required when DATABASE_URL"):
        refuse_mail_to_log(production, LogMailer("shop@example.com"))
    allowed = production.model_copy(update={"email_to_log_allowed": True})
    refuse_mail_to_log(allowed, LogMailer("shop@example.com"))
    refuse_mail_to_log(production, FileMailer("shop@example.com", str(tmp_path / "mbox")))
    refuse_mail_to_log(Settings(), LogMailer("shop@example.com"))  # the embedded default


def test_email_to_log_allowed_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("EMAIL_TO_LOG_ALLOWED", "true")
    assert Settings().email_to_log_allowed is True


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}", "SECRET_KEY": "k" * 40, **extra}
    assert commerce(tmp_path, "migrate", **env).returncode == 0
    return env


def test_production_may_allow_mail_to_the_log(tmp_path):
    env = _production(tmp_path, EMAIL_TO_LOG_ALLOWED="true")
    args = ["createsuperuser", "--email", "a@example.com", "--no-password"]
    r = commerce(tmp_path, *args, **env)
    assert r.returncode == 0, r.stderr


def test_every_command_refuses_production_mail_to_the_log(tmp_path):
    env = _production(tmp_path)
    args = ["createsuperuser", "--email", "a@example.com", "--no-password"]
    r = commerce(tmp_path, *args, **env)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: EMAIL_HOST is required when DATABASE_URL is set")
    assert len(r.stderr.strip().splitlines()) == 1
    served = commerce(tmp_path, "serve", "--port", str(free_port()), **env)
    assert served.returncode == 2 and len(served.stderr.strip().splitlines()) == 1
