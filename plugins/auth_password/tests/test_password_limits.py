"""Failure limits that hold: keyed on the canonical email (a look-alike or another spelling
gets no extra guesses and never another account), counted before argon2 runs (a concurrent
burst cannot slip past), shared by server processes through Redis; sign-ups are limited per
client address."""

import asyncio
import unicodedata

import httpx
import pytest
from commerce_auth_password import service

PASSWORD = "correct horse"
WRONG = "wrong horse"


async def signup(client, email, password=PASSWORD):
    return await client.post("/api/auth/signup/", json={"email": email, "password": password})


async def login(client, email, password=PASSWORD):
    return await client.post("/api/auth/login/", json={"email": email, "password": password})


@pytest.fixture
def argon2_calls(kernel, monkeypatch):
    """How many argon2 hashes and verifications the deployment's hasher ran."""
    hashing = service.hashing_for(kernel)
    calls = {"hash": 0, "verify": 0}
    real_hash, real_verify = hashing.hash, hashing.verify

    async def counted_hash(password):
        calls["hash"] += 1
        return await real_hash(password)

    async def counted_verify(stored, password):
        calls["verify"] += 1
        return await real_verify(stored, password)

    monkeypatch.setattr(hashing, "hash", counted_hash)
    monkeypatch.setattr(hashing, "verify", counted_verify)
    return calls


async def test_after_ten_failures_no_spelling_or_look_alike_gets_more_guesses(client):
    assert (await signup(client, "alice@example.com")).status_code == 201
    for _ in range(10):
        assert (await login(client, "alice@example.com", WRONG)).status_code == 401
    # Other spellings of the same address are the same identity: the same counter.
    for same in ("ALICE@example.com", "alice@EXAMPLE.COM", " Alice@Example.com."):
        r = await login(client, same)
        assert r.status_code == 429, (same, r.text)
    # Look-alikes are other addresses (no account here): with the right password they get
    # the wrong-credentials answer, never alice's account. MariaDB's default collation
    # made them all equal to alice@example.com.
    for look_alike in (
        "alíce@example.com",
        "álice@example.com",
        "ålice@example.com",
        "alice@exámple.com",
        "alice@examplé.com",
    ):
        r = await login(client, look_alike)
        assert r.status_code == 401, (look_alike, r.text)


async def test_unicode_forms_of_one_address_are_one_identity(client):
    nfc = "josé@example.com"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    signed_up = await signup(client, nfd)
    assert signed_up.status_code == 201, signed_up.text
    assert signed_up.json()["user"]["email"] == nfc
    assert (await login(client, nfc)).status_code == 200
    for _ in range(10):
        assert (await login(client, nfd, WRONG)).status_code == 401
    assert (await login(client, nfc)).status_code == 429
    assert (await login(client, "JOSÉ@Example.com")).status_code == 429
    # Without the accent it is someone else.
    assert (await login(client, "jose@example.com")).status_code == 401


async def test_concurrent_wrong_logins_cannot_pass_the_account_limit(client, argon2_calls):
    assert (await signup(client, "alice@example.com")).status_code == 201
    argon2_calls["verify"] = 0
    results = await asyncio.gather(*(login(client, "alice@example.com", WRONG) for _ in range(30)))
    codes = [r.status_code for r in results]
    assert set(codes) <= {401, 429}, codes
    # The limit is 10: at most 10 guesses were checked, every other attempt waits.
    assert codes.count(401) <= 10 and codes.count(429) >= 20, codes
    assert argon2_calls["verify"] == codes.count(401)
    assert (await login(client, "alice@example.com")).status_code == 429


async def test_the_limit_holds_across_two_server_processes(kernel, client, spawn):
    if not kernel.settings.redis_url:
        pytest.skip("processes share the limiter through Redis (COMMERCE_TEST_REDIS_URL)")
    assert (await signup(client, "alice@example.com")).status_code == 201
    # A realistic argon2 cost in the servers, so each guess takes as long as in production
    # and the burst really overlaps the checks.
    cost = {"PASSWORD_HASH_TIME_COST": "2", "PASSWORD_HASH_MEMORY_COST": "19456"}
    servers = [await asyncio.to_thread(spawn, "serve", env=cost) for _ in range(2)]
    async with httpx.AsyncClient(timeout=60) as http:
        results = await asyncio.gather(
            *(
                http.post(
                    f"{servers[i % 2].url}/api/auth/login/",
                    json={"email": "alice@example.com", "password": WRONG},
                )
                for i in range(30)
            )
        )
        codes = [r.status_code for r in results]
        assert set(codes) <= {401, 429}, codes
        assert codes.count(401) <= 10 and codes.count(429) >= 20, codes
        # Either process refuses even the right password now.
        for server in servers:
            r = await http.post(
                f"{server.url}/api/auth/login/",
                json={"email": "ALICE@example.com", "password": PASSWORD},
            )
            assert r.status_code == 429, r.text


async def test_signups_are_limited_per_client_address(client, argon2_calls):
    # SIGNUPS_PER_ADDRESS_PER_HOUR is 8 in these tests.
    for i in range(8):
        assert (await signup(client, f"user{i}@example.com")).status_code == 201
    assert argon2_calls["hash"] == 8
    r = await signup(client, "one.more@example.com")
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    # Refused before argon2 runs: a flood of sign-ups costs no hashing.
    assert argon2_calls["hash"] == 8
    # Signing in is not a sign-up.
    assert (await login(client, "user0@example.com")).status_code == 200


async def test_concurrent_signups_cannot_pass_the_address_limit(client):
    results = await asyncio.gather(*(signup(client, f"burst{i}@example.com") for i in range(20)))
    codes = [r.status_code for r in results]
    assert codes.count(201) == 8 and codes.count(429) == 12, codes
