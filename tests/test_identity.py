"""Tokens: audiences, rotation, family revocation on replay, logout."""

import time

from joserfc import jwt
from joserfc.jwk import OctKey

from commerce_kernel.identity import ADMIN, CUSTOMER


async def test_me_answers_the_account(customer):
    r = await customer.client.get("/api/auth/me/")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "email", "name", "is_admin", "created_at"}
    assert body["email"] == "customer@example.com" and body["is_admin"] is False
    assert body["created_at"].endswith("Z")


async def test_missing_or_garbage_token_is_401(client):
    assert (await client.get("/api/auth/me/")).status_code == 401
    r = await client.get("/api/auth/me/", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_token_signed_with_another_key_or_expired_is_401(kernel, client, customer):
    forged = jwt.encode(
        {"alg": "HS256"},
        {"sub": str(customer.id), "aud": CUSTOMER, "exp": int(time.time()) + 60},
        OctKey.import_key(b"k" * 32),
    )
    assert (
        await client.get("/api/auth/me/", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    key = kernel.tokens._key
    expired = jwt.encode(
        {"alg": "HS256"}, {"sub": str(customer.id), "aud": CUSTOMER, "iat": 1, "exp": 2}, key
    )
    assert (
        await client.get("/api/auth/me/", headers={"Authorization": f"Bearer {expired}"})
    ).status_code == 401


async def test_audiences_are_separate(kernel, customer, admin):
    from commerce_kernel.errors import Forbidden
    from commerce_kernel.identity import Principal

    customer_token, _ = kernel.tokens.access_token(customer.id, CUSTOMER)
    admin_token, _ = kernel.tokens.access_token(admin.id, ADMIN)
    assert kernel.tokens.verify_access(admin_token, ADMIN) == Principal(admin.id, ADMIN)
    for token, audience in ((customer_token, ADMIN), (admin_token, CUSTOMER)):
        try:
            kernel.tokens.verify_access(token, audience)
        except Forbidden:
            pass
        else:
            raise AssertionError("a token of one audience was accepted for the other")


async def test_refresh_rotates_and_keeps_the_audience(client, admin):
    r = await client.post("/api/auth/token/refresh/", json={"refresh_token": admin.refresh_token})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    assert pair["refresh_token"] != admin.refresh_token
    claims = jwt.decode(pair["access_token"], client._transport.app.state.kernel.tokens._key).claims
    assert claims["aud"] == ADMIN


async def test_replaying_a_used_refresh_token_revokes_the_family(client, customer):
    first = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    newer = first.json()["refresh_token"]
    replay = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    assert replay.status_code == 401
    assert replay.headers["content-type"].startswith("application/problem+json")
    # the thief's replay also kills the token the legitimate client got
    assert (
        await client.post("/api/auth/token/refresh/", json={"refresh_token": newer})
    ).status_code == 401


async def test_logout_revokes_the_refresh_token(client, customer):
    r = await client.post("/api/auth/logout/", json={"refresh_token": customer.refresh_token})
    assert r.status_code == 204 and r.content == b""
    again = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}
    )
    assert again.status_code == 401


async def test_unknown_refresh_token_is_401(client):
    r = await client.post("/api/auth/token/refresh/", json={"refresh_token": "nope"})
    assert r.status_code == 401


async def test_refresh_tokens_are_stored_hashed(kernel, customer):
    from sqlalchemy import select

    from commerce_kernel.identity import RefreshToken

    async with kernel.db.session() as session:
        hashes = (await session.execute(select(RefreshToken.token_hash))).scalars().all()
    assert hashes and customer.refresh_token not in hashes


async def test_the_principal_names_the_epoch_and_family_of_its_token(kernel, customer):
    from sqlalchemy import select

    from commerce_kernel.identity import RefreshToken

    async with kernel.db.session() as session:
        family = (
            await session.execute(
                select(RefreshToken.family).where(RefreshToken.account_id == customer.id)
            )
        ).scalar_one()
    principal = kernel.tokens.verify_access(customer.access_token, CUSTOMER)
    assert (principal.account_id, principal.epoch, principal.family) == (customer.id, 0, family)


async def test_a_stale_token_never_stands_between_a_client_and_a_fresh_one(
    kernel, client, customer
):
    # A front end that attaches its expired access token to every request can still refresh
    # it and sign out (and sign in: the sign-in plugins' tests): those operations ignore the
    # Authorization header.
    expired = jwt.encode(
        {"alg": "HS256"},
        {"sub": str(customer.id), "aud": CUSTOMER, "iat": 1, "exp": 2},
        kernel.tokens._key,
    )
    stale = {"Authorization": f"Bearer {expired}"}
    assert (await client.get("/api/auth/me/", headers=stale)).status_code == 401
    refreshed = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": customer.refresh_token}, headers=stale
    )
    assert refreshed.status_code == 200, refreshed.text
    fresh = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await client.get("/api/auth/me/", headers=fresh)).status_code == 200
    out = await client.post(
        "/api/auth/logout/",
        json={"refresh_token": refreshed.json()["refresh_token"]},
        headers=stale,
    )
    assert out.status_code == 204
    assert (await client.get("/api/health/", headers=stale)).status_code == 200
