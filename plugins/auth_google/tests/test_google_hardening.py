"""The nonce a front end sent to Google is checked when it sends it to us; a look-alike
verified email (`alíce@example.com`) is an account of its own, never `alice@example.com`'s;
a Google sign-in proves the account's email."""

import pytest

from commerce_kernel.identity import account_by_email, canonical_email


async def google_login(client, **body):
    return await client.post("/api/auth/google/", json=body)


async def test_a_nonce_sent_by_the_client_must_be_the_tokens(client, google, rsa_keys):
    key = rsa_keys["key-1"]
    ok = await google_login(client, id_token=google.id_token(key, nonce="n-123"), nonce="n-123")
    assert ok.status_code == 201, ok.text
    wrong = await google_login(client, id_token=google.id_token(key, nonce="n-123"), nonce="n-456")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    # A client that sent a nonce to Google accepts no token without one.
    missing = await google_login(client, id_token=google.id_token(key), nonce="n-123")
    assert missing.status_code == 401
    # A client that sends none checks none (the token may still carry one).
    unchecked = await google_login(client, id_token=google.id_token(key, nonce="n-789"))
    assert unchecked.status_code == 200


async def test_the_code_flow_checks_the_nonce_too(client, google, rsa_keys):
    redirect = "https://shop.example.com/cb"
    code = google.issue_code(google.id_token(rsa_keys["key-1"], nonce="n-1"), redirect)
    r = await google_login(client, code=code, redirect_uri=redirect, nonce="n-2")
    assert r.status_code == 401
    code = google.issue_code(google.id_token(rsa_keys["key-1"], nonce="n-1"), redirect)
    r = await google_login(client, code=code, redirect_uri=redirect, nonce="n-1")
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "look_alike", ["alíce@example.com", "ALÍCE@Example.com", "alice@exámple.com"]
)
async def test_a_look_alike_verified_email_is_another_account(
    client, google, rsa_keys, make_customer, look_alike
):
    alice = await make_customer("alice@example.com")
    token = google.id_token(rsa_keys["key-1"], sub="9001", email=look_alike)
    r = await google_login(client, id_token=token)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["id"] != alice.id
    assert r.json()["user"]["email"] == canonical_email(look_alike)


async def test_a_google_sign_in_proves_the_email(client, google, rsa_keys, kernel, make_customer):
    existing = await make_customer("pat@example.com")
    async with kernel.db.session() as session:
        assert (await account_by_email(session, "pat@example.com")).email_verified_at is None
    first = await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    assert first.status_code == 200, first.text
    async with kernel.db.session() as session:
        account = await account_by_email(session, "pat@example.com")
    assert account.id == existing.id and account.email_verified_at is not None
    # The first proof ended the sessions from before it, not the one it opened.
    before = await client.get(
        "/api/auth/me/", headers={"Authorization": f"Bearer {existing.access_token}"}
    )
    assert before.status_code == 401
    after = await client.get(
        "/api/auth/me/", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert after.status_code == 200
    # Later sign-ins prove nothing new and end nothing.
    again = await google_login(client, id_token=google.id_token(rsa_keys["key-1"]))
    assert again.status_code == 200
    refreshed = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": first.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
