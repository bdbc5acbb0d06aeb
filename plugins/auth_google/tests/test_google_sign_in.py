import asyncio
import time
from dataclasses import dataclass

import httpx
import pytest
from commerce_auth_google.models import GoogleIdentity
from commerce_auth_google.service import GoogleKeys, GoogleSignIn
from commerce_auth_google.settings import GoogleSettings
from sqlalchemy import func, select

from commerce_kernel import Account, ServiceUnavailable
from commerce_kernel.identity import account_by_email

CLIENT_ID = "test-client.apps.googleusercontent.com"  # as in conftest.py
SIGN_IN_SHAPE = {"user", "access_token", "refresh_token", "token_type", "expires_in"}


async def google_login(client, **body):
    return await client.post("/api/auth/google/", json=body)


def assert_refused(r):
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401


async def test_config_tells_the_front_end_how_to_start(client, google):
    r = await client.get("/api/auth/google/")
    assert r.status_code == 200
    assert r.json() == {
        "client_id": CLIENT_ID,
        "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
        "scopes": ["openid", "email", "profile"],
    }


async def test_first_sign_in_creates_the_account_then_signs_in(client, google, rsa_keys, kernel):
    token = google.id_token(rsa_keys["key-1"], email="Pat@Example.com")
    first = await google_login(client, id_token=token)
    assert first.status_code == 201, first.text
    assert first.json()["user"]["email"] == "pat@example.com"
    assert first.json()["user"]["name"] == "Pat Google"
    me = await client.get(
        "/api/auth/me/", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["email"] == "pat@example.com"

    again = await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == first.json()["user"]["id"]
    # The shape every sign-in answers (auth_password's sign-up and logins too).
    assert set(again.json()) == set(first.json()) == SIGN_IN_SHAPE
    assert set(first.json()["user"]) == {"id", "email", "name", "is_admin", "created_at"}
    # One JWKS fetch served both sign-ins.
    assert google.jwks_fetches == 1
    refreshed = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": again.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_existing_account_with_the_same_email_is_linked(
    client, google, rsa_keys, make_customer, kernel
):
    existing = await make_customer("pat@example.com")
    r = await google_login(client, id_token=google.id_token(rsa_keys["key-1"], sub="42"))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == existing.id
    async with kernel.db.session() as session:
        link = (
            await session.execute(select(GoogleIdentity).where(GoogleIdentity.sub == "42"))
        ).scalar_one()
    assert link.account_id == existing.id
    # Later the Google account's email changes: `sub` still finds the linked account.
    moved = google.id_token(rsa_keys["key-1"], sub="42", email="pat.new@example.com")
    r = await google_login(client, id_token=moved)
    assert r.status_code == 200 and r.json()["user"]["id"] == existing.id


async def test_both_google_issuer_forms_are_accepted(client, google, rsa_keys):
    short = google.id_token(rsa_keys["key-1"], iss="accounts.google.com")
    assert (await google_login(client, id_token=short)).status_code == 201


@dataclass(frozen=True)
class FromNow:
    """A time claim this many seconds from the moment the test makes its token."""

    seconds: int


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else.apps.googleusercontent.com"},
        {"aud": None},
        {"iss": "https://evil.example.com"},
        {"iss": None},
        {"exp": FromNow(-600), "iat": FromNow(-4200)},
        {"exp": None},
        {"iat": FromNow(600)},
        {"iat": None},
        {"email_verified": False},
        {"email_verified": None},
        {"email_verified": "false"},
        # Only a JSON true proves the email: not the string, not a number.
        {"email_verified": "true"},
        {"email_verified": "True"},
        {"email_verified": 1},
        {"email": None},
        {"sub": None},
    ],
    ids=[
        "wrong-aud",
        "no-aud",
        "wrong-iss",
        "no-iss",
        "expired",
        "no-exp",
        "iat-in-future",
        "no-iat",
        "email-unverified",
        "email-verified-missing",
        "email-verified-false-string",
        "email-verified-true-string",
        "email-verified-True-string",
        "email-verified-one",
        "no-email",
        "no-sub",
    ],
)
async def test_bad_claims_are_refused(client, google, rsa_keys, kernel, claims):
    now = int(time.time())  # when the token is made, not when the parameters were collected
    claims = {k: now + v.seconds if isinstance(v, FromNow) else v for k, v in claims.items()}
    r = await google_login(client, id_token=google.id_token(rsa_keys["key-1"], **claims))
    assert_refused(r)
    async with kernel.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Account))).scalar() == 0


async def test_small_clock_skew_is_tolerated(client, google, rsa_keys):
    token = google.id_token(rsa_keys["key-1"], iat=int(time.time()) + 20)
    assert (await google_login(client, id_token=token)).status_code == 201


async def test_bad_signature_is_refused(client, google, rsa_keys):
    # Signed with key-2 but naming key-1, which Google publishes.
    forged = google.id_token(rsa_keys["key-2"], kid="key-1")
    assert_refused(await google_login(client, id_token=forged))
    valid = google.id_token(rsa_keys["key-1"])
    tampered = valid[:-6] + ("AAAAAA" if not valid.endswith("AAAAAA") else "BBBBBB")
    assert_refused(await google_login(client, id_token=tampered))
    assert_refused(await google_login(client, id_token="not.a.jwt"))
    assert_refused(await google_login(client, id_token="garbage"))


async def test_tokens_not_signed_with_rs256_are_refused(client, google, rsa_keys):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    hs = jwt.encode(
        {"alg": "HS256", "kid": "key-1"},
        {"iss": "https://accounts.google.com", "aud": CLIENT_ID, "sub": "1", "exp": 9e9},
        OctKey.generate_key(256),
        algorithms=["HS256"],
    )
    assert_refused(await google_login(client, id_token=hs))


async def test_unknown_kid_refetches_the_keys_once(client, google, rsa_keys):
    assert (
        await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    ).status_code == 201
    assert google.jwks_fetches == 1
    # Google rotates to key-2: a token signed with it makes one refetch, then works.
    google.keys = [rsa_keys["key-2"]]
    rotated = google.id_token(rsa_keys["key-2"])
    r = await google_login(client, id_token=rotated)
    assert r.status_code == 200, r.text
    assert google.jwks_fetches == 2
    assert (await google_login(client, id_token=rotated)).status_code == 200
    assert google.jwks_fetches == 2
    # A key Google does not publish: one refetch, still unknown, refused.
    unknown = google.id_token(rsa_keys["key-3"])
    assert_refused(await google_login(client, id_token=unknown))
    assert google.jwks_fetches == 3
    # key-1 was rotated out: no longer trusted.
    assert_refused(await google_login(client, id_token=google.id_token(rsa_keys["key-1"])))


async def test_refetches_for_unknown_kids_are_spaced_out(google_server, google, rsa_keys, kernel):
    async with httpx.AsyncClient() as http:
        url = kernel.section(GoogleSettings).google_jwks_url
        keys = GoogleKeys(url, http, refetch_interval=60)
        assert await keys.key("key-1") is not None
        assert await keys.key("made-up") is None
        assert await keys.key("made-up-too") is None
        assert google.jwks_fetches == 1


async def test_unreachable_jwks_answers_503(client, google, rsa_keys):
    google.jwks_failing = True
    r = await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    assert r.status_code == 503
    assert r.headers["retry-after"]
    google.jwks_failing = False
    r = await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    assert r.status_code == 201


async def test_code_flow_redeems_the_code_and_signs_in(client, google, rsa_keys):
    redirect = "https://shop.example.com/auth/google/callback"
    code = google.issue_code(google.id_token(rsa_keys["key-1"], sub="77"), redirect)
    r = await google_login(client, code=code, redirect_uri=redirect)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == "pat@example.com"
    sent = google.token_requests[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["redirect_uri"] == redirect
    assert sent["basic_client_id"] == CLIENT_ID
    # A code works once at Google; a replay is refused.
    assert_refused(await google_login(client, code=code, redirect_uri=redirect))
    # A redirect URI other than the one the code was issued for is refused by Google.
    other = google.issue_code(google.id_token(rsa_keys["key-1"], sub="77"), redirect)
    assert_refused(await google_login(client, code=other, redirect_uri=redirect + "x"))


async def test_code_flow_still_checks_the_id_token(client, google, rsa_keys):
    redirect = "https://shop.example.com/cb"
    code = google.issue_code(google.id_token(rsa_keys["key-1"], aud="other-client"), redirect)
    assert_refused(await google_login(client, code=code, redirect_uri=redirect))


async def test_body_needs_an_id_token_or_a_code(client, google, rsa_keys):
    assert (await google_login(client)).status_code == 422
    assert (await google_login(client, code="abc")).status_code == 422
    both = await google_login(
        client, id_token=google.id_token(rsa_keys["key-1"]), code="abc", redirect_uri="https://x"
    )
    assert both.status_code == 422


async def test_concurrent_first_sign_ins_create_one_account(client, google, rsa_keys, kernel):
    token = google.id_token(rsa_keys["key-1"])
    results = await asyncio.gather(*(google_login(client, id_token=token) for _ in range(3)))
    assert sorted(r.status_code for r in results) == [200, 200, 201]
    assert len({r.json()["user"]["id"] for r in results}) == 1
    async with kernel.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Account))).scalar() == 1


async def test_a_disabled_account_cannot_sign_in(client, google, rsa_keys, kernel, make_customer):
    await make_customer("pat@example.com")
    async with kernel.db.transaction() as session:
        (await account_by_email(session, "pat@example.com")).is_active = False
    assert_refused(await google_login(client, id_token=google.id_token(rsa_keys["key-1"])))


async def test_without_a_client_id_google_sign_in_is_unavailable():
    google = GoogleSignIn(GoogleSettings(google_client_id=""))
    try:
        with pytest.raises(ServiceUnavailable):
            await google.verify_id_token("a.b.c")
    finally:
        await google.aclose()


async def test_openapi_documents_the_sign_in_shape_for_200_and_201(client):
    doc = (await client.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/auth/google/"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokensWithUser"
    }
    assert "same body as 200" in post["responses"]["201"]["description"]
    shape = doc["components"]["schemas"]["TokensWithUser"]["properties"]
    assert set(shape) == SIGN_IN_SHAPE
