"""No secret a client or the deployment uses ever appears in the log or in an error body:
passwords, access and refresh tokens, mailed codes, TOTP secrets and codes, Google tokens and
the client secret, webhook secrets, SECRET_KEY and the database password. The whole log is
captured (the root logger at DEBUG, SQLAlchemy's statements, the access log, uvicorn's) as
the JSON lines `commerce serve` writes, with every response of a real HTTP server."""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import pytest_asyncio
from commerce_auth_password.service import set_password
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from commerce_kernel.app import create_app
from commerce_kernel.identity import create_account
from commerce_kernel.kernel import Kernel
from commerce_kernel.logging import QUIET_LOGGERS, JSONFormatter, RequestIdFilter
from commerce_kernel.plugins import load_plugins
from commerce_kernel.settings import Settings
from commerce_kernel.testing import Backend, Deployment, deployment_env, free_port, serve_app

PLUGINS = sorted(p.name for p in Path(__file__).parents[2].joinpath("plugins").iterdir())
GOOGLE_PORT = free_port()
CLIENT_ID = "secrets-test.apps.googleusercontent.com"
CLIENT_SECRET = "gcs-" + uuid.uuid4().hex
GOOGLE_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return PLUGINS


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    return {
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_JWKS_URL": f"http://127.0.0.1:{GOOGLE_PORT}/certs",
        "GOOGLE_TOKEN_URL": f"http://127.0.0.1:{GOOGLE_PORT}/token",
        "WEBHOOKS_ALLOW_HTTP": "true",
        "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


@pytest.fixture(scope="session")
def commerce_backend() -> Backend:
    # The directory's conftest points its tests at private servers for fault tests; these
    # run on the run's backend (SQLite, or the MariaDB + Redis run's).
    return Backend.from_environment()


class Google:
    """Google's JWKS and token endpoint on loopback; codes it issued redeem to ID tokens."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def id_token(self, email: str) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": "g-" + email,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, GOOGLE_KEY, algorithms=["RS256"])

    async def certs(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [GOOGLE_KEY.as_dict(private=False)]})

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        basic = request.headers.get("authorization", "").partition(" ")[2]
        client = base64.b64decode(basic).decode() if basic else ""
        token = self.codes.pop(str(form.get("code", "")), None)
        if token is None or client != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": "ya29." + uuid.uuid4().hex, "id_token": token})


@pytest_asyncio.fixture(loop_scope="session")
async def google() -> AsyncIterator[Google]:
    fake = Google()
    app = Starlette(
        routes=[Route("/certs", fake.certs), Route("/token", fake.token, methods=["POST"])]
    )
    async with serve_app(app, GOOGLE_PORT):
        yield fake


@pytest.fixture
def whole_log() -> Iterator[list[str]]:
    """Every log line of the test, formatted as `commerce serve` writes them, with the levels
    `commerce serve` sets at `LOG_LEVEL=DEBUG` (`configure_logging`); uvicorn's own server
    log at DEBUG too."""
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Capture(logging.DEBUG)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    levels = {
        **dict.fromkeys(QUIET_LOGGERS, logging.WARNING),
        "uvicorn": logging.DEBUG,
        "uvicorn.error": logging.DEBUG,
    }
    before = {name: logging.getLogger(name).level for name in levels}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def _code_in(message: EmailMessage) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    found = re.search(r"\b(\d{6})\b", part.get_payload(decode=True).decode())
    assert found
    return found.group(1)


class Recorder:
    """An HTTP client of the live server that keeps every answer, and the secrets seen."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.responses: list[httpx.Response] = []
        self.secrets: set[str] = set()  # never in the log, never in an error body
        self.never_in_a_body: set[str] = set()  # not even in a successful answer

    async def send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = await self.client.request(method, path, **kw)
        self.responses.append(r)
        if r.headers.get("content-type", "").startswith("application/json") and r.content:
            body = r.json()
            for key in ("access_token", "refresh_token", "secret"):
                if isinstance(body, dict) and isinstance(body.get(key), str):
                    self.secrets.add(body[key])
        return r

    def never_shown(self, *values: str) -> None:
        self.secrets.update(values)
        self.never_in_a_body.update(values)


def _fragments(secret: str) -> list[str]:
    """The secret and the parts a log might hold of it (a JWT's signature or payload)."""
    parts = [secret]
    if secret.count(".") == 2:
        parts += [p for p in secret.split(".")[1:] if len(p) >= 16]
    return parts


async def test_no_secret_reaches_the_log_or_an_error_body(
    deployment: Deployment,
    live_server: str,
    google: Google,
    mailbox: list[EmailMessage],
    run_tasks: Any,
    whole_log: list[str],
) -> None:
    kernel = deployment.kernel
    admin_password = "admin-" + uuid.uuid4().hex
    async with kernel.db.transaction() as session:
        account = await create_account(session, "ops@example.com", "Ops", is_admin=True)
        await set_password(kernel, session, account.id, admin_password)
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:
        c = Recorder(http)
        c.never_shown(kernel.settings.secret_key, CLIENT_SECRET, admin_password)

        # Passwords: sign-up, a wrong one, the right one, a token refresh, its replay.
        password = "pw-" + uuid.uuid4().hex
        wrong = "wrong-" + uuid.uuid4().hex
        c.never_shown(password, wrong)
        r = await c.send(
            "POST", "/api/auth/signup/", json={"email": "pat@example.com", "password": password}
        )
        assert r.status_code == 201, r.text
        first = r.json()
        r = await c.send(
            "POST", "/api/auth/login/", json={"email": "pat@example.com", "password": wrong}
        )
        assert r.status_code == 401
        r = await c.send(
            "POST", "/api/auth/login/", json={"email": "pat@example.com", "password": password}
        )
        assert r.status_code == 200
        pair = r.json()
        r = await c.send(
            "POST", "/api/auth/token/refresh/", json={"refresh_token": pair["refresh_token"]}
        )
        assert r.status_code == 200
        refreshed = r.json()
        r = await c.send(
            "POST", "/api/auth/token/refresh/", json={"refresh_token": pair["refresh_token"]}
        )
        assert r.status_code == 401  # a replay: the family is revoked
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        assert (await c.send("GET", "/api/auth/me/", headers=bearer)).status_code == 200
        forged = first["access_token"][:-4] + "AAAA"
        c.secrets.add(forged)
        r = await c.send("GET", "/api/auth/me/", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401
        r = await c.send("POST", "/api/auth/logout/", json=refreshed)
        assert r.status_code in (204, 422)
        r = await c.send(
            "POST", "/api/auth/logout/", json={"refresh_token": refreshed["refresh_token"]}
        )
        assert r.status_code == 204

        # An admin: password, TOTP enrolment (its secret), a login with the code.
        r = await c.send(
            "POST",
            "/api/admin/auth/login/",
            json={"email": "ops@example.com", "password": admin_password},
        )
        assert r.status_code == 200, r.text
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await c.send(
            "POST", "/api/admin/auth/totp/", headers=admin, json={"password": admin_password}
        )
        assert r.status_code == 200, r.text
        totp = pyotp.TOTP(r.json()["secret"])
        code = totp.now()
        c.never_shown(code)
        r = await c.send("POST", "/api/admin/auth/totp/confirm/", headers=admin, json={"otp": code})
        assert r.status_code == 200, r.text
        r = await c.send(
            "POST",
            "/api/admin/auth/login/",
            json={"email": "ops@example.com", "password": admin_password, "otp": "000000"},
        )
        assert r.status_code == 401
        # A webhook endpoint's signing secret, and its rotation.
        r = await c.send(
            "POST",
            "/api/admin/webhooks/endpoints/",
            headers=admin,
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["order.placed"]},
        )
        assert r.status_code == 201, r.text
        endpoint = r.json()["id"]
        r = await c.send(
            "POST", f"/api/admin/webhooks/endpoints/{endpoint}/rotate-secret/", headers=admin
        )
        assert r.status_code == 200, r.text

        # A mailed one-time code: a wrong one, then the right one.
        r = await c.send("POST", "/api/auth/otp/request/", json={"email": "otp@example.com"})
        assert r.status_code == 202
        await run_tasks()
        otp_code = _code_in([m for m in mailbox if m["To"] == "otp@example.com"][-1])
        bad_code = f"{(int(otp_code) + 1) % 1_000_000:06d}"
        c.never_shown(otp_code, bad_code)
        r = await c.send(
            "POST", "/api/auth/otp-login/", json={"email": "otp@example.com", "code": bad_code}
        )
        assert r.status_code == 401
        r = await c.send(
            "POST", "/api/auth/otp-login/", json={"email": "otp@example.com", "code": otp_code}
        )
        assert r.status_code in (200, 201), r.text

        # Google: an ID token, then an authorization code the backend redeems.
        id_token = google.id_token("gina@example.com")
        c.secrets.add(id_token)
        r = await c.send("POST", "/api/auth/google/", json={"id_token": id_token})
        assert r.status_code in (200, 201), r.text
        g_code = uuid.uuid4().hex
        google.codes[g_code] = google.id_token("gina@example.com")
        c.secrets.update({g_code, google.codes[g_code]})
        redirect = "http://localhost/cb"
        r = await c.send(
            "POST", "/api/auth/google/", json={"code": g_code, "redirect_uri": redirect}
        )
        assert r.status_code in (200, 201), r.text
        r = await c.send("POST", "/api/auth/google/", json={"id_token": id_token[:-6] + "AAAAAA"})
        assert r.status_code == 401

    # A failing database: a second app of the same plugins whose database does not answer,
    # its URL carrying a password; signing in there is a 503, its log as clean.
    db_password = "dbpw-" + uuid.uuid4().hex
    env = deployment_env(f"mysql://shop:{db_password}@127.0.0.1:{free_port()}/shop", None)
    env.update({"DB_TIMEOUT": "2", "SECRET_KEY": kernel.settings.secret_key})
    settings = Settings(**{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    broken = Kernel(
        settings,
        load_plugins(["kernel", *(n for n in kernel.plugin_names if n != "kernel")], (), []),
    )
    await broken.start(run_cron=False)
    try:
        transport = httpx.ASGITransport(app=create_app(kernel=broken))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            c.client = http
            c.never_shown(db_password)
            for path, body in (
                ("/api/auth/login/", {"email": "pat@example.com", "password": password}),
                ("/api/auth/otp-login/", {"email": "otp@example.com", "code": otp_code}),
                ("/api/admin/auth/login/", {"email": "ops@example.com", "password": wrong}),
            ):
                r = await c.send("POST", path, json=body)
                assert r.status_code == 503, r.text
            r = await c.send("GET", "/api/auth/me/", headers=bearer)
            assert r.status_code in (401, 503)
            assert (await c.send("GET", "/api/ready/")).status_code == 503
    finally:
        await broken.stop()

    log = "\n".join(whole_log)
    assert '"logger":"commerce.access"' in log and '"level":"DEBUG"' in log
    assert "dbpw-" not in log and "unhandled error" not in log
    leaks = []
    for secret in sorted(c.secrets):
        for fragment in _fragments(secret):
            if fragment in log:
                leaks.append(f"log holds {fragment[:12]}...")
    for r in c.responses:
        shown = c.secrets if r.status_code >= 400 else c.never_in_a_body
        for secret in shown:
            for fragment in _fragments(secret):
                if fragment in r.text:
                    leaks.append(f"{r.request.method} {r.request.url.path} {r.status_code}")
    assert not leaks, leaks
    assert len(c.secrets) >= 15, len(c.secrets)
    print(f"secrets checked: {len(c.secrets)}; log lines: {len(whole_log)}")
