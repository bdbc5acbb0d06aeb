"""A Google ID token with a verified email proves the address: signing in with one removes a
password someone set by signing up with it (never proven) and ends his sessions."""

import pytest

CHEAP_ARGON2 = {
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_COST": "1024",
    "PASSWORD_HASH_PARALLELISM": "1",
}


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_google", "auth_password"]


@pytest.fixture(scope="session")
def commerce_settings(commerce_settings):
    return {**commerce_settings, **CHEAP_ARGON2}


def bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_google_sign_in_takes_a_pre_registered_account_back(client, google, rsa_keys):
    squat = await client.post(
        "/api/auth/signup/", json={"email": "pat@example.com", "password": "squatter pw 1"}
    )
    assert squat.status_code == 201
    squatter = squat.json()

    r = await client.post(
        "/api/auth/google/", json={"id_token": google.id_token(rsa_keys["key-1"])}
    )
    assert r.status_code == 200, r.text
    owner = r.json()
    assert owner["user"]["id"] == squatter["user"]["id"]

    login = await client.post(
        "/api/auth/login/", json={"email": "pat@example.com", "password": "squatter pw 1"}
    )
    assert login.status_code == 401
    refresh = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": squatter["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/api/auth/me/", headers=bearer(squatter))).status_code == 401
    assert (await client.get("/api/auth/me/", headers=bearer(owner))).status_code == 200


async def test_an_unverified_google_email_takes_nothing(client, google, rsa_keys):
    squat = await client.post(
        "/api/auth/signup/", json={"email": "pat@example.com", "password": "squatter pw 1"}
    )
    assert squat.status_code == 201
    token = google.id_token(rsa_keys["key-1"], email_verified=False)
    assert (await client.post("/api/auth/google/", json={"id_token": token})).status_code == 401
    login = await client.post(
        "/api/auth/login/", json={"email": "pat@example.com", "password": "squatter pw 1"}
    )
    assert login.status_code == 200
