"""A new password ends the account's old sessions; an email proven by a verified identity
removes the password someone set without proving it (pre-registration hijack)."""

import time

import pyotp
from commerce_auth_password.api import set_password
from commerce_auth_password.models import (
    PasswordCredential,
    TOTPAuthenticator,
    TOTPPendingEnrolment,
)
from sqlalchemy import update

from commerce_kernel import Account
from commerce_kernel.commands.createsuperuser import create_superuser
from commerce_kernel.identity import account_by_email, prove_email

PASSWORD = "correct horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signup(client, email, password=PASSWORD):
    r = await client.post("/api/auth/signup/", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    return r.json()


async def login(client, email, password=PASSWORD):
    return await client.post("/api/auth/login/", json={"email": email, "password": password})


async def refresh(client, tokens):
    return await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )


async def me(client, tokens):
    return await client.get("/api/auth/me/", headers=bearer(tokens["access_token"]))


async def test_set_password_ends_every_old_session(client, kernel):
    old = await signup(client, "alice@example.com")
    other = (await login(client, "alice@example.com")).json()
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "alice@example.com")
        await set_password(kernel, session, account.id, "new horse 12")
    for tokens in (old, other):
        assert (await refresh(client, tokens)).status_code == 401
        assert (await me(client, tokens)).status_code == 401
    assert (await login(client, "alice@example.com")).status_code == 401
    fresh = await login(client, "alice@example.com", "new horse 12")
    assert fresh.status_code == 200
    assert (await me(client, fresh.json())).status_code == 200


async def test_createsuperuser_password_ends_old_admin_sessions(client, kernel):
    assert await create_superuser(kernel, "root@example.com", "admin password 1") == 0
    r = await client.post(
        "/api/admin/auth/login/",
        json={"email": "root@example.com", "password": "admin password 1"},
    )
    assert r.status_code == 200
    tokens = r.json()
    assert await create_superuser(kernel, "root@example.com", "admin password 2") == 0
    assert (await refresh(client, tokens)).status_code == 401
    refused = await client.post(
        "/api/admin/auth/totp/",
        json={"password": "admin password 2"},
        headers=bearer(tokens["access_token"]),
    )
    assert refused.status_code == 401


async def test_a_proven_email_removes_the_password_and_ends_its_sessions(client, kernel):
    squatter = await signup(client, "victim@example.com", "squatter pw 1")
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "victim@example.com")
        assert await prove_email(kernel, session, account) is True
    async with kernel.db.session() as session:
        assert await session.get(PasswordCredential, account.id) is None
    assert (await login(client, "victim@example.com", "squatter pw 1")).status_code == 401
    assert (await refresh(client, squatter)).status_code == 401
    assert (await me(client, squatter)).status_code == 401


async def test_a_proven_email_removes_the_authenticators_too(client, kernel):
    assert await create_superuser(kernel, "root@example.com", "admin password 1") == 0
    # createsuperuser vouches for the address; this admin's was never proven (say it was
    # promoted in SQL), so its first proof removes every credential.
    async with kernel.db.transaction() as session:
        await session.execute(update(Account).values(email_verified_at=None))
    token = (
        await client.post(
            "/api/admin/auth/login/",
            json={"email": "root@example.com", "password": "admin password 1"},
        )
    ).json()["access_token"]
    headers = bearer(token)
    first = await client.post(
        "/api/admin/auth/totp/", json={"password": "admin password 1"}, headers=headers
    )
    secret = first.json()["secret"]
    confirmed = await client.post(
        "/api/admin/auth/totp/confirm/", json={"otp": pyotp.TOTP(secret).now()}, headers=headers
    )
    assert confirmed.status_code == 200
    pending = await client.post(
        "/api/admin/auth/totp/",
        json={"password": "admin password 1", "otp": pyotp.TOTP(secret).at(time.time() + 30)},
        headers=headers,
    )
    assert pending.status_code == 200, pending.text
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "root@example.com")
        assert await prove_email(kernel, session, account) is True
    async with kernel.db.session() as session:
        for model in (PasswordCredential, TOTPAuthenticator, TOTPPendingEnrolment):
            assert await session.get(model, account.id) is None, model


async def test_only_the_first_proof_removes_anything(client, kernel):
    await signup(client, "pat@example.com")
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "pat@example.com")
        assert await prove_email(kernel, session, account) is True
    # The owner (who proved the address) sets a password now: later proofs leave it alone.
    async with kernel.db.transaction() as session:
        await set_password(kernel, session, account.id, "owner pw 12")
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "pat@example.com")
        assert await prove_email(kernel, session, account) is False
    assert (await login(client, "pat@example.com", "owner pw 12")).status_code == 200
