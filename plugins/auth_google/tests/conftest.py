"""A stand-in for Google on loopback (JWKS and token endpoint), so no test reaches the internet."""

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from commerce_auth_google.service import google_sign_in
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from commerce_kernel.testing import free_port, serve_app

CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_google"]


@pytest.fixture(scope="session")
def google_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def commerce_settings(google_port):
    return {
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_JWKS_URL": f"http://127.0.0.1:{google_port}/oauth2/v3/certs",
        "GOOGLE_TOKEN_URL": f"http://127.0.0.1:{google_port}/token",
        "GOOGLE_JWKS_REFETCH_INTERVAL": "0",
    }


def make_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="session")
def rsa_keys() -> dict[str, RSAKey]:
    return {kid: make_key(kid) for kid in ("key-1", "key-2", "key-3")}


@dataclass
class FakeGoogle:
    """Google's JWKS and token endpoints, with the keys and codes a test sets."""

    keys: list[RSAKey] = field(default_factory=list)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    jwks_fetches: int = 0
    jwks_failing: bool = False
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def id_token(self, key: RSAKey, *, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "https://accounts.google.com",
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": "1000001",
            "email": "pat@example.com",
            "email_verified": True,
            "name": "Pat Google",
            "iat": now,
            "exp": now + 3600,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": "RS256", "kid": kid or key.kid, "typ": "JWT"}
        return jwt.encode(header, body, key, algorithms=["RS256"])

    def issue_code(self, id_token: str, redirect_uri: str) -> str:
        code = uuid.uuid4().hex
        self.codes[code] = (id_token, redirect_uri)
        return code

    async def certs(self, request: Request) -> JSONResponse:
        self.jwks_fetches += 1
        if self.jwks_failing:
            return JSONResponse({"error": "unavailable"}, status_code=500)
        return JSONResponse({"keys": [k.as_dict(private=False) for k in self.keys]})

    async def token(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
            form.update(basic_client_id=client_id, basic_client_secret=secret)
        self.token_requests.append(form)
        found = self.codes.pop(form.get("code", ""), None)
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("basic_client_id") != CLIENT_ID
            or form.get("basic_client_secret") != CLIENT_SECRET
            or found is None
            or found[1] != form.get("redirect_uri")
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": "ya29.test",
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email profile",
                "id_token": found[0],
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth2/v3/certs", self.certs, methods=["GET"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def google_server(google_port):
    fake = FakeGoogle()
    async with serve_app(fake.app(), google_port):
        yield fake


@pytest.fixture
def google(google_server, rsa_keys, kernel):
    """The fake Google, publishing key-1, with this deployment's key cache emptied."""
    google_server.keys = [rsa_keys["key-1"]]
    google_server.codes.clear()
    google_server.token_requests.clear()
    google_server.jwks_fetches = 0
    google_server.jwks_failing = False
    google_sign_in(kernel).keys.forget()
    return google_server
