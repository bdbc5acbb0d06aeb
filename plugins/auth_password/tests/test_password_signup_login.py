import asyncio

from commerce_auth_password.models import PasswordCredential

from commerce_kernel.identity import account_by_email


async def signup(client, email="alice@example.com", password="correct horse", **extra):
    return await client.post(
        "/api/auth/signup/", json={"email": email, "password": password, **extra}
    )


async def test_signup_creates_a_normalised_account_and_signs_it_in(client, kernel):
    r = await signup(client, "  Alice@Example.COM ", name="Alice")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["name"] == "Alice"
    assert body["user"]["is_admin"] is False
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    me = await client.get(
        "/api/auth/me/", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]
    async with kernel.db.session() as session:
        account = await account_by_email(session, "alice@example.com")
        credential = await session.get(PasswordCredential, account.id)
    assert credential.hash.startswith("$argon2id$")
    assert "correct horse" not in credential.hash


async def test_signup_with_a_taken_email_in_other_case_is_409(client):
    assert (await signup(client)).status_code == 201
    r = await signup(client, " ALICE@example.com")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 409


async def test_concurrent_signups_with_one_email_create_one_account(client):
    results = await asyncio.gather(*(signup(client) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]


async def test_weak_passwords_are_refused_with_422(client):
    short = await signup(client, password="1234567")
    assert short.status_code == 422
    assert short.json()["errors"][0]["loc"] == ["body", "password"]
    same = await signup(client, "bob@example.com", password="BOB@example.com")
    assert same.status_code == 422
    assert same.json()["errors"][0]["loc"] == ["body", "password"]
    assert (await signup(client, "not-an-email")).status_code == 422
    assert (await client.post("/api/auth/login/", json={"email": "a@b.c"})).status_code == 422


async def test_signup_tokens_refresh_and_rotate(client):
    tokens = (await signup(client)).json()
    r = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] != tokens["refresh_token"]
    replay = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 401
    # Replaying a used token revoked its family: the rotated one is dead too.
    rotated = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": r.json()["refresh_token"]}
    )
    assert rotated.status_code == 401


SIGN_IN_SHAPE = {"user", "access_token", "refresh_token", "token_type", "expires_in"}
ACCOUNT_SHAPE = {"id", "email", "name", "is_admin", "created_at"}


async def test_login_answers_customer_tokens_with_the_account_as_signup_does(client):
    signed_up = (await signup(client, name="Alice")).json()
    r = await client.post(
        "/api/auth/login/", json={"email": " Alice@EXAMPLE.com", "password": "correct horse"}
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == set(signed_up) == SIGN_IN_SHAPE
    assert set(r.json()["user"]) == ACCOUNT_SHAPE
    assert r.json()["user"] == signed_up["user"]
    assert r.json()["user"]["is_admin"] is False
    assert r.json()["token_type"] == "Bearer" and r.json()["expires_in"] > 0
    # A customer token is not an admin token.
    admin_only = await client.post(
        "/api/admin/auth/totp/", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert admin_only.status_code == 403


async def test_unknown_email_and_wrong_password_answer_the_same_401(client):
    await signup(client)
    wrong = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong horse"}
    )
    unknown = await client.post(
        "/api/auth/login/", json={"email": "nobody@example.com", "password": "correct horse"}
    )
    malformed = await client.post(
        "/api/auth/login/", json={"email": "not an email", "password": "correct horse"}
    )
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json() == unknown.json() == malformed.json()
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_passwordless_account_cannot_log_in_with_any_password(client, make_customer):
    await make_customer("nopassword@example.com")
    r = await client.post(
        "/api/auth/login/", json={"email": "nopassword@example.com", "password": "anything1"}
    )
    assert r.status_code == 401


async def test_login_rehashes_a_hash_with_old_parameters(client, kernel):
    from argon2 import PasswordHasher

    await signup(client)
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash("correct horse")
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "alice@example.com")
        (await session.get(PasswordCredential, account.id)).hash = old
    r = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "correct horse"}
    )
    assert r.status_code == 200
    async with kernel.db.session() as session:
        stored = (await session.get(PasswordCredential, account.id)).hash
    assert stored != old and "m=1024,t=1,p=1" in stored
    again = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "correct horse"}
    )
    assert again.status_code == 200


async def test_failed_logins_are_throttled_per_account_with_retry_after(client):
    await signup(client)
    for _ in range(10):
        r = await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong horse"}
        )
        assert r.status_code == 401
    # Past the limit even the right password waits.
    r = await client.post(
        "/api/auth/login/", json={"email": "ALICE@example.com", "password": "correct horse"}
    )
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["retry-after"]) <= 900
    # Other accounts are not affected by this account's counter.
    await signup(client, "bob@example.com")
    ok = await client.post(
        "/api/auth/login/", json={"email": "bob@example.com", "password": "correct horse"}
    )
    assert ok.status_code == 200


async def test_unknown_emails_are_throttled_like_known_ones(client):
    for _ in range(10):
        r = await client.post(
            "/api/auth/login/", json={"email": "ghost@example.com", "password": "wrong horse"}
        )
        assert r.status_code == 401
    r = await client.post(
        "/api/auth/login/", json={"email": "ghost@example.com", "password": "wrong horse"}
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_a_success_clears_the_account_counter(client):
    await signup(client)
    for _ in range(9):
        await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong horse"}
        )
    ok = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "correct horse"}
    )
    assert ok.status_code == 200
    for _ in range(9):
        r = await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong horse"}
        )
        assert r.status_code == 401


async def test_failures_from_one_address_are_throttled_across_accounts(client):
    # LOGIN_FAILURES_PER_ADDRESS is 25 in these tests; 5 failures per email stay under the
    # per-account limit.
    for i in range(25):
        r = await client.post(
            "/api/auth/login/", json={"email": f"user{i // 5}@example.com", "password": "nope1234"}
        )
        assert r.status_code == 401
    r = await client.post(
        "/api/auth/login/", json={"email": "fresh@example.com", "password": "nope1234"}
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_openapi_documents_one_sign_in_shape(client):
    doc = (await client.get("/api/openapi.json")).json()
    answers = {
        path: doc["paths"][path]["post"]["responses"][status]["content"]["application/json"]
        for path, status in (
            ("/api/auth/signup/", "201"),
            ("/api/auth/login/", "200"),
            ("/api/admin/auth/login/", "200"),
        )
    }
    for answer in answers.values():
        assert answer["schema"] == {"$ref": "#/components/schemas/TokensWithUser"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["TokensWithUser"]["properties"]) == SIGN_IN_SHAPE
    assert {"user", "access_token", "refresh_token"} <= set(schemas["TokensWithUser"]["required"])
    assert set(schemas["AccountOut"]["properties"]) == ACCOUNT_SHAPE


async def test_sign_up_and_sign_in_ignore_a_stale_access_token(client, kernel):
    # A front end that still attaches an expired (or garbage) token can sign up or in again.
    stale = {"Authorization": "Bearer expired.or.garbage"}
    body = {"email": "stale@example.com", "password": "correct horse battery"}
    signup = await client.post("/api/auth/signup/", json=body, headers=stale)
    assert signup.status_code == 201, signup.text
    login = await client.post("/api/auth/login/", json=body, headers=stale)
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email"] == "stale@example.com"
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, "stale@example.com")
        account.is_admin = True
    admin = await client.post("/api/admin/auth/login/", json=body, headers=stale)
    assert admin.status_code == 200, admin.text
