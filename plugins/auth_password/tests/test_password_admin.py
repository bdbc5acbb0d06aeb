import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from commerce_kernel.commands.createsuperuser import create_superuser
from commerce_kernel.identity import account_by_email

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
async def superuser(kernel):
    assert await create_superuser(kernel, ADMIN_EMAIL, ADMIN_PASSWORD, "Root") == 0
    return ADMIN_EMAIL


def not_a_current_code(secret: str) -> str:
    totp, now = pyotp.TOTP(secret), time.time()
    valid = {totp.at(now + offset) for offset in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


async def admin_login(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, **extra):
    return await client.post(
        "/api/admin/auth/login/", json={"email": email, "password": password, **extra}
    )


async def test_admin_login_answers_admin_tokens(client, superuser):
    r = await admin_login(client, " ROOT@example.com")
    assert r.status_code == 200, r.text
    # The shape of every sign-in: the account with the tokens.
    assert set(r.json()) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert r.json()["user"]["email"] == ADMIN_EMAIL and r.json()["user"]["is_admin"] is True
    token = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/auth/me/", headers=auth)
    assert me.status_code == 200 and me.json()["is_admin"] is True
    # Refreshing keeps the admin audience.
    refreshed = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": r.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    enroll = await client.post(
        "/api/admin/auth/totp/",
        json={"password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
    )
    assert enroll.status_code == 200


async def test_admin_login_refuses_a_customer_account_like_a_wrong_password(client, superuser):
    signup = await client.post(
        "/api/auth/signup/", json={"email": "casey@example.com", "password": "customer pw"}
    )
    assert signup.status_code == 201
    customer = await admin_login(client, "casey@example.com", "customer pw")
    wrong = await admin_login(client, password="not the password")
    assert customer.status_code == wrong.status_code == 401
    assert customer.json() == wrong.json()
    # The admin account can still sign in as a customer, with customer tokens.
    as_customer = await client.post(
        "/api/auth/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert as_customer.status_code == 200
    refused = await client.post(
        "/api/admin/auth/totp/",
        headers={"Authorization": f"Bearer {as_customer.json()['access_token']}"},
    )
    assert refused.status_code == 403


async def test_totp_enrolment_needs_an_admin_token(client, customer):
    assert (await client.post("/api/admin/auth/totp/")).status_code == 401
    r = await customer.client.post("/api/admin/auth/totp/")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"


async def test_after_enrolment_admin_login_needs_the_current_code(client, superuser):
    token = (await admin_login(client)).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post("/api/admin/auth/totp/", json={"password": ADMIN_PASSWORD}, headers=auth)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in r.json()["otpauth_uri"]
    # Active once a code from it is confirmed (that code is spent: sign in with the next one).
    confirmed = await client.post(
        "/api/admin/auth/totp/confirm/", json={"otp": pyotp.TOTP(secret).now()}, headers=auth
    )
    assert confirmed.status_code == 200, confirmed.text

    assert (await admin_login(client)).status_code == 401
    assert (await admin_login(client, otp=not_a_current_code(secret))).status_code == 401
    code = pyotp.TOTP(secret).at(time.time() + 30)
    ok = await admin_login(client, otp=code)
    assert ok.status_code == 200, ok.text
    # A code signs in once.
    assert (await admin_login(client, otp=code)).status_code == 401
    # A wrong password with the right code is still the plain wrong-credentials answer.
    wrong = await admin_login(client, password="wrong password", otp=pyotp.TOTP(secret).now())
    assert wrong.status_code == 401


async def test_create_superuser_stores_a_checked_password(kernel, client, capsys):
    assert await create_superuser(kernel, "weak@example.com", "short") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    async with kernel.db.session() as session:
        assert await account_by_email(session, "weak@example.com") is None
    assert await create_superuser(kernel, "boss@example.com", "boss@example.com") == 2
    assert await create_superuser(kernel, "boss@example.com", "long enough 1") == 0
    assert (await admin_login(client, "boss@example.com", "long enough 1")).status_code == 200


async def test_createsuperuser_command_line(deployment, client, tmp_path):
    commerce = str(Path(sys.executable).with_name("commerce"))
    env = {**os.environ, **deployment.env, "COMMERCE_PLUGINS": "auth_password"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [commerce, "createsuperuser", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(run, "--email", "cli@example.com", "--password", "cli password")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cli@example.com" in done.stdout
    weak = await asyncio.to_thread(run, "--email", "cli2@example.com", "--password", "short")
    assert weak.returncode == 2
    r = await admin_login(client, "cli@example.com", "cli password")
    assert r.status_code == 200, r.text
