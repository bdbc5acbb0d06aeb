"""One canonical form per email, compared exactly on every backend: a look-alike is another
address, never another spelling of an existing account's."""

from __future__ import annotations

import unicodedata

import pytest
import sqlalchemy as sa
from alembic import command

from commerce_kernel import Kernel
from commerce_kernel.identity import account_by_email, canonical_email, create_account
from commerce_kernel.migrations_runner import alembic_config
from commerce_kernel.settings import Settings


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("  Alice@Example.COM ", "alice@example.com"),
        ("alice@exámple.com", "alice@xn--exmple-qta.com"),
        ("alice@EXÁMPLE.com", "alice@xn--exmple-qta.com"),
        (unicodedata.normalize("NFD", "josé@example.com"), "josé@example.com"),
        ("STRASSE@example.com", "strasse@example.com"),
        ("straße@example.com", "strasse@example.com"),  # case folding, not lower()
        ("alice@example.com.", "alice@example.com"),
    ],
)
def test_canonical_form(raw, canonical):
    assert canonical_email(raw) == canonical


def test_look_alikes_stay_apart():
    assert canonical_email("alice@exámple.com") != canonical_email("alice@example.com")
    assert canonical_email("alicé@example.com") != canonical_email("alice@example.com")


@pytest.mark.parametrize("raw", ["alice", "@example.com", "alice@", "a@-bad-.com"])
def test_what_is_no_address_is_refused(raw):
    with pytest.raises(ValueError):
        canonical_email(raw)


async def test_a_look_alike_never_finds_another_account(kernel):
    async with kernel.db.transaction() as session:
        alice = await create_account(session, "alice@example.com")
    async with kernel.db.transaction() as session:
        assert (await account_by_email(session, "ALICE@Example.com")).id == alice.id
        for look_alike in ("alice@exámple.com", "alicé@example.com", "alice@examplé.com"):
            assert await account_by_email(session, look_alike) is None, look_alike
        # ... and is an account of its own (the unique index compares exactly, on MariaDB too).
        other = await create_account(session, "alice@exámple.com")
    assert other.id != alice.id and other.email == "alice@xn--exmple-qta.com"


async def test_the_migration_canonicalises_and_refuses_to_merge(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    kernel = Kernel.load(Settings(database_url=url, secret_key="k" * 32), plugins=[])
    cfg = alembic_config(kernel)

    def run(connection: sa.Connection, target: str) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)

    async with kernel.db.engine.begin() as conn:
        await conn.run_sync(run, "kernel_0002")
        await conn.execute(
            sa.text(
                "INSERT INTO accounts (email, name, is_admin, is_active, created_at) VALUES "
                "('Bob@Example.com', '', 0, 1, '2026-01-01 00:00:00'),"
                "('carol@example.com', '', 0, 1, '2026-01-01 00:00:00'),"
                "('CAROL@example.com', '', 0, 1, '2026-01-01 00:00:00')"
            )
        )
    with pytest.raises(RuntimeError, match=r"accounts 2 and 3 have the same email once canonical"):
        async with kernel.db.engine.begin() as conn:
            await conn.run_sync(run, "heads")
    async with kernel.db.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM accounts WHERE id = 3"))
        await conn.run_sync(run, "heads")
        emails = (await conn.execute(sa.text("SELECT email FROM accounts ORDER BY id"))).all()
    assert [e for (e,) in emails] == ["bob@example.com", "carol@example.com"]
    await kernel.db.dispose()
