"""A mailed code proves the email: signing in with one removes a password that someone set
by signing up with the address (never proven) and ends every session of the account."""

import pytest

SETTINGS = {
    "OTP_REQUEST_INTERVAL": "0",
    "OTP_REQUESTS_PER_HOUR": "5",
    "OTP_LOGIN_FAILURES_PER_ADDRESS": "50",
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_COST": "1024",
    "PASSWORD_HASH_PARALLELISM": "1",
}


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_otp", "auth_password"]


@pytest.fixture(scope="session")
def commerce_settings():
    return dict(SETTINGS)


def bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def refresh(client, tokens):
    return await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )


async def test_a_mailed_code_takes_a_pre_registered_account_back(otp, client):
    squat = await client.post(
        "/api/auth/signup/", json={"email": "victim@example.com", "password": "squatter pw 1"}
    )
    assert squat.status_code == 201
    squatter = squat.json()
    assert (await client.get("/api/auth/me/", headers=bearer(squatter))).status_code == 200

    assert (await otp.request("victim@example.com")).status_code == 202
    r = await otp.login("victim@example.com", await otp.code_for("victim@example.com"))
    assert r.status_code == 200, r.text
    victim = r.json()
    assert victim["user"]["id"] == squatter["user"]["id"]

    # The squatter's password no longer works and every session of his is over.
    login = await client.post(
        "/api/auth/login/", json={"email": "victim@example.com", "password": "squatter pw 1"}
    )
    assert login.status_code == 401
    assert (await refresh(client, squatter)).status_code == 401
    assert (await client.get("/api/auth/me/", headers=bearer(squatter))).status_code == 401
    # The owner's session is the one that lives.
    assert (await client.get("/api/auth/me/", headers=bearer(victim))).status_code == 200

    # A later code proves nothing new: the owner's session survives the next sign-in.
    assert (await otp.request("victim@example.com")).status_code == 202
    again = await otp.login("victim@example.com", await otp.code_for("victim@example.com"))
    assert again.status_code == 200
    assert (await refresh(client, victim)).status_code == 200


async def test_a_code_for_a_new_address_creates_a_proven_account(otp, client, kernel):
    from commerce_kernel.identity import account_by_email

    assert (await otp.request("new@example.com")).status_code == 202
    r = await otp.login("new@example.com", await otp.code_for("new@example.com"))
    assert r.status_code == 201
    async with kernel.db.session() as session:
        account = await account_by_email(session, "new@example.com")
    assert account.email_verified_at is not None
    assert (await client.get("/api/auth/me/", headers=bearer(r.json()))).status_code == 200
    # A sign-up with the address now finds it taken.
    taken = await client.post(
        "/api/auth/signup/", json={"email": "new@example.com", "password": "some password"}
    )
    assert taken.status_code == 409


async def test_an_admin_the_operator_created_keeps_the_password_after_a_code(otp, client, kernel):
    from commerce_kernel.commands.createsuperuser import create_superuser

    # `commerce createsuperuser`: the operator vouches for the address.
    assert await create_superuser(kernel, "ops@example.com", "operator pw 1") == 0
    assert (await otp.request("ops@example.com")).status_code == 202
    r = await otp.login("ops@example.com", await otp.code_for("ops@example.com"))
    assert r.status_code == 200, r.text
    admin_login = await client.post(
        "/api/admin/auth/login/", json={"email": "ops@example.com", "password": "operator pw 1"}
    )
    assert admin_login.status_code == 200, admin_login.text
