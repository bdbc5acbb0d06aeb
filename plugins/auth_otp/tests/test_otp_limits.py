"""Limits that need other settings than the defaults (a deployment of their own)."""

import asyncio

import pytest


@pytest.fixture(scope="session")
def commerce_settings():
    return {
        "OTP_REQUEST_INTERVAL": "0",
        "OTP_REQUESTS_PER_HOUR": "5",
        "OTP_LOGIN_FAILURES_PER_ADDRESS": "8",
        "OTP_REQUESTS_PER_ADDRESS_PER_HOUR": "10",
    }


async def test_requests_per_email_per_hour_are_bounded(otp):
    for _ in range(5):
        assert (await otp.request("pat@example.com")).status_code == 202
    r = await otp.request("pat@example.com")
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    assert (await otp.request("other@example.com")).status_code == 202


async def test_a_new_request_replaces_the_previous_code(otp):
    await otp.request("pat@example.com")
    first = await otp.code_for("pat@example.com")
    await otp.request("pat@example.com")
    second = await otp.code_for("pat@example.com")
    if first != second:
        assert (await otp.login("pat@example.com", first)).status_code == 401
    assert (await otp.login("pat@example.com", second)).status_code == 201


async def test_wrong_codes_from_one_address_are_throttled(otp):
    for i in range(8):
        assert (await otp.login(f"guess{i}@example.com", "000000")).status_code == 401
    await otp.request("pat@example.com")
    r = await otp.login("pat@example.com", await otp.code_for("pat@example.com"))
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1


async def test_the_next_code_signs_in_to_the_account_the_first_created(otp):
    await otp.request("pat@example.com")
    first = await otp.login("pat@example.com", await otp.code_for("pat@example.com"))
    assert first.status_code == 201
    await otp.request("pat@example.com")
    second = await otp.login("pat@example.com", await otp.code_for("pat@example.com"))
    assert second.status_code == 200, second.text
    assert second.json()["user"]["id"] == first.json()["user"]["id"]


async def test_concurrent_wrong_codes_cannot_pass_the_address_limit(otp):
    # Counted before the code is looked at: of a burst, at most the limit are checked.
    results = await asyncio.gather(
        *(otp.login(f"guess{i}@example.com", "000000") for i in range(20))
    )
    codes = [r.status_code for r in results]
    assert set(codes) <= {401, 429}, codes
    assert codes.count(401) <= 8 and codes.count(429) >= 12, codes


async def test_requests_from_one_address_are_limited(otp, mailbox, run_tasks):
    for i in range(10):
        assert (await otp.request(f"user{i}@example.com")).status_code == 202
    r = await otp.request("one.more@example.com")
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    await run_tasks()
    assert not [m for m in mailbox if m["To"] == "one.more@example.com"]


async def test_concurrent_requests_cannot_pass_the_address_limit(otp, run_tasks, mailbox):
    results = await asyncio.gather(*(otp.request(f"burst{i}@example.com") for i in range(20)))
    codes = [r.status_code for r in results]
    assert codes.count(202) == 10 and codes.count(429) == 10, codes
    await run_tasks()
    assert len(mailbox) == 10
