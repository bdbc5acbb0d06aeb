import asyncio
from datetime import timedelta

from commerce_auth_otp.models import OTPChallenge
from commerce_auth_otp.service import code_keys
from commerce_auth_otp.tasks import send_code
from sqlalchemy import select, update

from commerce_kernel import TaskContext, utcnow
from commerce_kernel.identity import account_by_email

SIGN_IN_SHAPE = {"user", "access_token", "refresh_token", "token_type", "expires_in"}


async def challenge_of(kernel, email):
    async with kernel.db.session() as session:
        return (
            await session.execute(select(OTPChallenge).where(OTPChallenge.email == email))
        ).scalar_one()


async def test_request_answers_202_alike_for_known_and_unknown_emails(otp, make_customer):
    await make_customer("known@example.com")
    known = await otp.request("known@example.com")
    unknown = await otp.request("unknown@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.json()["expires_in"] == 300
    # Both get a code: an unknown email signs up by signing in.
    assert len(await otp.code_for("known@example.com")) == 6
    assert len(await otp.code_for("unknown@example.com")) == 6


async def test_codes_are_stored_only_as_keyed_hashes(otp, kernel):
    await otp.request("Pat@Example.com ")
    code = await otp.code_for("pat@example.com")
    challenge = await challenge_of(kernel, "pat@example.com")
    assert code not in challenge.code_hash
    assert challenge.code_hash == code_keys(kernel).code_hash("pat@example.com", code)
    assert challenge.expires_at - challenge.created_at == timedelta(seconds=300)


async def test_first_code_creates_a_passwordless_account_then_signs_in(otp, kernel, client):
    await otp.request("pat@example.com")
    r = await otp.login(" PAT@example.com", await otp.code_for("pat@example.com"))
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == "pat@example.com"
    # The shape every sign-in answers (auth_password's sign-up and logins too).
    assert set(r.json()) == SIGN_IN_SHAPE
    assert set(r.json()["user"]) == {"id", "email", "name", "is_admin", "created_at"}
    me = await client.get(
        "/api/auth/me/", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.status_code == 200
    refreshed = await client.post(
        "/api/auth/token/refresh/", json={"refresh_token": r.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200


async def test_existing_account_signs_in_with_200(otp, make_customer):
    existing = await make_customer("casey@example.com")
    await otp.request("casey@example.com")
    r = await otp.login("casey@example.com", await otp.code_for("casey@example.com"))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == existing.id
    assert set(r.json()) == SIGN_IN_SHAPE


async def test_a_code_works_once(otp):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    assert (await otp.login("pat@example.com", code)).status_code == 201
    replay = await otp.login("pat@example.com", code)
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"


async def test_five_wrong_codes_kill_the_challenge(otp, kernel):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert (await otp.login("pat@example.com", wrong)).status_code == 401
    assert (await otp.login("pat@example.com", code)).status_code == 401
    assert (await challenge_of(kernel, "pat@example.com")).attempts == 5


async def test_four_wrong_codes_leave_the_right_one_working(otp):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        assert (await otp.login("pat@example.com", wrong)).status_code == 401
    assert (await otp.login("pat@example.com", code)).status_code == 201


async def test_concurrent_wrong_codes_cannot_pass_the_limit(otp, kernel):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    results = await asyncio.gather(*(otp.login("pat@example.com", wrong) for _ in range(12)))
    assert {r.status_code for r in results} == {401}
    assert (await challenge_of(kernel, "pat@example.com")).attempts == 5
    assert (await otp.login("pat@example.com", code)).status_code == 401


async def test_two_concurrent_logins_with_one_code_one_wins(otp, kernel):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    results = await asyncio.gather(*(otp.login("pat@example.com", code) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 401, 401, 401]
    async with kernel.db.session() as session:
        assert await account_by_email(session, "pat@example.com") is not None


async def test_an_expired_code_is_refused(otp, kernel):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    async with kernel.db.transaction() as session:
        await session.execute(
            update(OTPChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await otp.login("pat@example.com", code)).status_code == 401


async def test_no_code_requested_and_wrong_email_are_401(otp):
    assert (await otp.login("nobody@example.com", "123456")).status_code == 401
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    assert (await otp.login("other@example.com", code)).status_code == 401
    assert (await otp.login("pat@example.com", "12345")).status_code == 422
    assert (await otp.login("pat@example.com", "abcdef")).status_code == 422


async def test_one_request_per_email_per_30_seconds(otp):
    assert (await otp.request("pat@example.com")).status_code == 202
    r = await otp.request(" PAT@example.com")
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert (await otp.request("other@example.com")).status_code == 202


async def test_malformed_email_is_422(otp):
    r = await otp.request("not an email")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"][:2] == ["body", "email"]


async def test_a_late_mail_job_for_a_dead_code_sends_nothing(otp, kernel, mailbox):
    await otp.request("pat@example.com")
    code = await otp.code_for("pat@example.com")
    challenge = await challenge_of(kernel, "pat@example.com")
    sealed = code_keys(kernel).seal(code)
    assert (await otp.login("pat@example.com", code)).status_code == 201
    sent = len(mailbox)
    await send_code(TaskContext(kernel, "late", 1), challenge.id, sealed)
    assert len(mailbox) == sent


async def test_openapi_documents_the_sign_in_shape_for_200_and_201(client):
    doc = (await client.get("/api/openapi.json")).json()
    post = doc["paths"]["/api/auth/otp-login/"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokensWithUser"
    }
    assert "same body as 200" in post["responses"]["201"]["description"]
    shape = doc["components"]["schemas"]["TokensWithUser"]["properties"]
    assert set(shape) == SIGN_IN_SHAPE
