"""Admin sign-in with TOTP: enrolling or replacing an authenticator needs the password (and the
current code of the enrolled one), a new secret is active only once a code from it is
confirmed, and every admin login failure looks the same."""

import asyncio
import time
from datetime import timedelta

import pyotp
import pytest
from commerce_auth_password import service
from commerce_auth_password.models import TOTPAuthenticator, TOTPPendingEnrolment
from sqlalchemy import select, update

from commerce_kernel import utcnow
from commerce_kernel.commands.createsuperuser import create_superuser
from commerce_kernel.identity import account_by_email

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "admin password 1"


def not_a_current_code(secret: str) -> str:
    totp, now = pyotp.TOTP(secret), time.time()
    valid = {totp.at(now + offset) for offset in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def next_code(secret: str) -> str:
    """The code of the next time step: still accepted (±1 step), and later than a code that
    was just used."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def admin_login(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, **extra):
    return await client.post(
        "/api/admin/auth/login/", json={"email": email, "password": password, **extra}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def enroll(client, token, **body):
    return await client.post("/api/admin/auth/totp/", json=body, headers=bearer(token))


async def confirm(client, token, otp):
    return await client.post(
        "/api/admin/auth/totp/confirm/", json={"otp": otp}, headers=bearer(token)
    )


@pytest.fixture
async def admin_token(kernel, client):
    assert await create_superuser(kernel, ADMIN_EMAIL, ADMIN_PASSWORD, "Root") == 0
    r = await admin_login(client)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
async def enrolled(client, admin_token):
    """An enrolled and confirmed authenticator: (its secret, an admin token)."""
    r = await enroll(client, admin_token, password=ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    confirmed = await confirm(client, admin_token, pyotp.TOTP(secret).now())
    assert confirmed.status_code == 200, confirmed.text
    return secret, admin_token


async def active_secret(kernel) -> str | None:
    async with kernel.db.session() as session:
        account = await account_by_email(session, ADMIN_EMAIL)
        row = await session.get(TOTPAuthenticator, account.id)
    return row.secret if row is not None else None


async def test_a_new_authenticator_is_active_only_after_a_confirmed_code(client, admin_token):
    r = await enroll(client, admin_token, password=ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert f"secret={secret}" in r.json()["otpauth_uri"]
    # Not confirmed yet: admin sign-in does not ask for its codes.
    assert (await admin_login(client)).status_code == 200
    wrong = await confirm(client, admin_token, not_a_current_code(secret))
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"
    assert (await admin_login(client)).status_code == 200
    ok = await confirm(client, admin_token, pyotp.TOTP(secret).now())
    assert ok.status_code == 200, ok.text
    # Confirmed: now every admin sign-in needs a code, and the confirming code is spent.
    assert (await admin_login(client)).status_code == 401
    assert (await admin_login(client, otp=pyotp.TOTP(secret).now())).status_code == 401
    assert (await admin_login(client, otp=next_code(secret))).status_code == 200
    # Nothing left to confirm.
    assert (await confirm(client, admin_token, next_code(secret))).status_code == 403


async def test_enrolment_needs_the_password(client, admin_token):
    assert (
        await client.post("/api/admin/auth/totp/", headers=bearer(admin_token))
    ).status_code == (422)
    wrong = await enroll(client, admin_token, password="not the password")
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_replacing_the_authenticator_needs_the_password_and_a_current_code(
    client, kernel, enrolled
):
    old, token = enrolled
    # The access token alone (what the audit found enough) is refused.
    assert (await client.post("/api/admin/auth/totp/", headers=bearer(token))).status_code == 422
    assert (await enroll(client, token, password=ADMIN_PASSWORD)).status_code == 403
    assert (
        await enroll(client, token, password="not the password", otp=next_code(old))
    ).status_code == 403
    assert (
        await enroll(client, token, password=ADMIN_PASSWORD, otp=not_a_current_code(old))
    ).status_code == 403
    assert await active_secret(kernel) == old

    r = await enroll(client, token, password=ADMIN_PASSWORD, otp=next_code(old))
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old
    # The new secret waits for a code from it; until then the old one stays the one.
    assert await active_secret(kernel) == old
    assert (await admin_login(client, otp=pyotp.TOTP(new).now())).status_code == 401
    assert (await confirm(client, token, not_a_current_code(new))).status_code == 403
    assert await active_secret(kernel) == old

    assert (await confirm(client, token, pyotp.TOTP(new).now())).status_code == 200
    assert await active_secret(kernel) == new
    assert (await admin_login(client, otp=next_code(old))).status_code == 401
    assert (await admin_login(client, otp=next_code(new))).status_code == 200


async def test_the_code_that_authorised_a_replacement_is_spent(client, kernel, enrolled):
    old, token = enrolled
    code = next_code(old)
    assert (await enroll(client, token, password=ADMIN_PASSWORD, otp=code)).status_code == 200
    assert (await enroll(client, token, password=ADMIN_PASSWORD, otp=code)).status_code == 403
    assert (await admin_login(client, otp=code)).status_code == 401


async def test_admin_login_failures_look_identical(client, kernel, enrolled, monkeypatch):
    secret, _ = enrolled
    assert await create_superuser(kernel, "off@example.com", "off password 1") == 0
    async with kernel.db.transaction() as session:
        (await account_by_email(session, "off@example.com")).is_active = False
    customer = await client.post(
        "/api/auth/signup/", json={"email": "casey@example.com", "password": "customer pw"}
    )
    assert customer.status_code == 201

    hashing = service.hashing_for(kernel)
    work = {"verify": 0, "hash": 0}
    real_verify, real_hash = hashing.verify, hashing.hash

    async def verify(stored, password):
        work["verify"] += 1
        return await real_verify(stored, password)

    async def hash_(password):
        work["hash"] += 1
        return await real_hash(password)

    monkeypatch.setattr(hashing, "verify", verify)
    monkeypatch.setattr(hashing, "hash", hash_)
    confirmation_code = pyotp.TOTP(secret).now()  # spent by the confirmation
    failures = {
        "wrong password, right code": {"password": "not the password", "otp": next_code(secret)},
        "right password, no code": {},
        "right password, wrong code": {"otp": not_a_current_code(secret)},
        "right password, spent code": {"otp": confirmation_code},
        "unknown email": {"email": "nobody@example.com"},
        "customer account": {"email": "casey@example.com", "password": "customer pw"},
        "disabled admin": {"email": "off@example.com", "password": "off password 1"},
    }
    answers = {}
    for case, body in failures.items():
        work.update(verify=0, hash=0)
        r = await admin_login(client, **body)
        answers[case] = (r.status_code, r.json(), r.headers.get("www-authenticate"))
        # Each costs one argon2 verification and nothing more.
        assert work == {"verify": 1, "hash": 0}, case
    first = next(iter(answers.values()))
    assert first[0] == 401
    for case, answer in answers.items():
        assert answer == first, (case, answer, first)
    assert (await admin_login(client, otp=next_code(secret))).status_code == 200


async def test_pending_enrolment_is_dropped_with_the_account(client, kernel, admin_token):
    assert (await enroll(client, admin_token, password=ADMIN_PASSWORD)).status_code == 200
    async with kernel.db.transaction() as session:
        account = await account_by_email(session, ADMIN_EMAIL)
        await session.delete(account)
    async with kernel.db.session() as session:
        left = (await session.execute(select(TOTPPendingEnrolment))).scalars().all()
    assert left == []


async def test_an_unconfirmed_enrolment_expires(client, kernel, admin_token):
    secret = (await enroll(client, admin_token, password=ADMIN_PASSWORD)).json()["secret"]
    async with kernel.db.transaction() as session:
        await session.execute(
            update(TOTPPendingEnrolment).values(created_at=utcnow() - timedelta(minutes=11))
        )
    assert (await confirm(client, admin_token, pyotp.TOTP(secret).now())).status_code == 403
    assert await active_secret(kernel) is None
    assert (await admin_login(client)).status_code == 200


async def test_concurrent_confirmations_enrol_once(client, kernel, admin_token):
    secret = (await enroll(client, admin_token, password=ADMIN_PASSWORD)).json()["secret"]
    code = pyotp.TOTP(secret).now()
    results = await asyncio.gather(*(confirm(client, admin_token, code) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [200, 403, 403, 403]
    assert await active_secret(kernel) == secret
