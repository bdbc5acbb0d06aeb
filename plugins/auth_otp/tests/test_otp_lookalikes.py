"""Emails have one canonical form and are compared exactly, in `otp_challenges` too: a code
mailed to a look-alike (`alíce@example.com`) never opens `alice@example.com`, and a request
for a look-alike leaves the account's own code alone. MariaDB's default collation (accent-
and case-insensitive) made them equal; these tests run on both backends."""

import unicodedata
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from commerce_auth_otp.models import OTPChallenge
from commerce_auth_otp.service import code_keys

from commerce_kernel import Kernel, utcnow
from commerce_kernel.identity import canonical_email
from commerce_kernel.migrations_runner import alembic_config
from commerce_kernel.settings import Settings
from commerce_kernel.testing.backends import create_test_database

LOOK_ALIKES = ["alíce@example.com", "ALÍCE@Example.com", "alice@exámple.com", "alice@examplé.com"]


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
async def test_a_code_for_a_look_alike_never_opens_the_account(otp, make_customer, look_alike):
    alice = await make_customer("alice@example.com")
    assert (await otp.request(look_alike)).status_code == 202
    code = await otp.code_for(canonical_email(look_alike))
    assert (await otp.login("alice@example.com", code)).status_code == 401
    r = await otp.login(look_alike, code)
    # The look-alike is an address of its own: a new account, not alice's.
    assert r.status_code == 201, r.text
    assert r.json()["user"]["id"] != alice.id
    assert r.json()["user"]["email"] == canonical_email(look_alike)


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
async def test_a_look_alike_request_leaves_the_accounts_code_alive(otp, look_alike):
    assert (await otp.request("alice@example.com")).status_code == 202
    code = await otp.code_for("alice@example.com")
    # The look-alike's request and its wrong codes touch only the look-alike's challenge.
    assert (await otp.request(look_alike)).status_code == 202
    for _ in range(5):
        assert (await otp.login(look_alike, other_code(code))).status_code == 401
    r = await otp.login("alice@example.com", code)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == "alice@example.com"


async def test_challenge_emails_compare_exactly(kernel):
    now = utcnow()
    async with kernel.db.transaction() as session:
        session.add(
            OTPChallenge(
                email="alíce@example.com",
                code_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(minutes=5),
            )
        )
    async with kernel.db.session() as session:
        for probe in ("alice@example.com", "ALÍCE@example.com", "alice@example.com "):
            found = await session.execute(
                sa.select(OTPChallenge.id).where(OTPChallenge.email == probe)
            )
            assert found.first() is None, probe
        if kernel.db.is_mysql:
            collation = await session.execute(
                sa.text(
                    "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
                    "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'otp_challenges' "
                    "AND COLUMN_NAME = 'email'"
                )
            )
            assert collation.scalar_one() == "utf8mb4_bin"


async def test_codes_are_bound_to_the_canonical_form(otp, kernel):
    assert (await otp.request("Pat@EXAMPLE.com")).status_code == 202
    code = await otp.code_for("pat@example.com")
    async with kernel.db.session() as session:
        challenge = (await session.execute(sa.select(OTPChallenge))).scalar_one()
    assert challenge.email == "pat@example.com"
    assert challenge.code_hash == code_keys(kernel).code_hash("pat@example.com", code)
    r = await otp.login(" PAT@Example.COM ", code)
    assert r.status_code == 201 and r.json()["user"]["email"] == "pat@example.com"


async def test_the_migration_keeps_canonical_codes_and_drops_the_others(tmp_path):
    # On the backend under test (SQLite, or a throwaway MariaDB database).
    database = await create_test_database(tmp_path)
    kernel = Kernel.load(
        Settings(database_url=database.url, secret_key="k" * 32), plugins=["auth_otp"]
    )
    cfg = alembic_config(kernel)

    def run(connection: sa.Connection, target: str) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)

    try:
        async with kernel.db.engine.begin() as conn:
            await conn.run_sync(run, "auth_otp_0001")
            await conn.execute(
                sa.text(
                    "INSERT INTO otp_challenges (email, code_hash, created_at, expires_at, "
                    "attempts) VALUES "
                    "('pat@example.com', 'h1', '2026-01-01 00:00:00', '2099-01-01 00:00:00', 0),"
                    "('alice@exámple.com', 'h2', '2026-01-01 00:00:00', '2099-01-01 00:00:00', 0),"
                    "('straße@example.com', 'h3', '2026-01-01 00:00:00', '2099-01-01 00:00:00', 0)"
                )
            )
        async with kernel.db.engine.begin() as conn:
            await conn.run_sync(run, "heads")
            rows = (
                await conn.execute(sa.text("SELECT email, code_hash FROM otp_challenges"))
            ).all()
            # A code hash is bound to the email it was made for: a row whose email changes
            # form holds a code that can no longer match, so it goes (a new code is a
            # request away).
            assert [tuple(r) for r in rows] == [("pat@example.com", "h1")]
            await conn.execute(
                sa.text(
                    "INSERT INTO otp_challenges (email, code_hash, created_at, expires_at, "
                    "attempts) VALUES "
                    "('alíce@example.com', 'h4', '2026-01-01 00:00:00', '2099-01-01 00:00:00', 0)"
                )
            )
            same = await conn.execute(
                sa.text("SELECT count(*) FROM otp_challenges WHERE email = 'alice@example.com'")
            )
            assert same.scalar_one() == 0
    finally:
        await kernel.db.dispose()
        if database.drop is not None:
            await database.drop()


async def test_spellings_of_one_address_share_its_request_limit(otp):
    nfc = "josé@example.com"
    assert (await otp.request(nfc)).status_code == 202
    for same in (unicodedata.normalize("NFD", nfc), "JOSÉ@Example.COM", " josé@EXAMPLE.com"):
        r = await otp.request(same)
        assert r.status_code == 429, (same, r.text)
    # Without the accent it is another address, with a limit of its own.
    assert (await otp.request("jose@example.com")).status_code == 202
