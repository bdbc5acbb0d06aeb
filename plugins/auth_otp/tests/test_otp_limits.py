"""Limits that need other settings than the defaults (a deployment of their own)."""

import pytest


@pytest.fixture(scope="session")
def commerce_settings():
    return {
        "OTP_REQUEST_INTERVAL": "0",
        "OTP_REQUESTS_PER_HOUR": "5",
        "OTP_LOGIN_FAILURES_PER_ADDRESS": "8",
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
