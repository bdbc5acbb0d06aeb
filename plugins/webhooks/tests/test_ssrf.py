"""The SSRF guard with the default rules: https only, public addresses only."""

from __future__ import annotations

import pytest

ENDPOINTS = "/api/admin/webhooks/endpoints/"


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    return {}  # the defaults: no http, no private networks


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1"),
        ("https://10.0.0.1/hook", "10.0.0.1"),
        ("https://192.168.1.20/hook", "192.168.1.20"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://[::1]/hook", "::1"),
        ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1"),
        ("https://[fd00:ec2::254]/hook", "fd00:ec2::254"),
        ("https://0.0.0.0/hook", "0.0.0.0"),
        ("https://localhost/hook", "localhost resolves to"),
        ("http://93.184.215.14/hook", "https"),
        ("ftp://93.184.215.14/hook", "https"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
    ],
)
async def test_private_targets_and_plain_http_are_refused_at_registration(admin, url, why):
    r = await admin.client.post(ENDPOINTS, json={"url": url, "event_types": ["order.placed"]})
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]
    assert (await admin.client.get(ENDPOINTS)).json()["count"] == 0


async def test_a_public_https_target_is_accepted_and_changing_it_is_checked(admin):
    r = await admin.client.post(
        ENDPOINTS, json={"url": "https://93.184.215.14/hook", "event_types": ["order.placed"]}
    )
    assert r.status_code == 201, r.text
    r = await admin.client.patch(
        f"{ENDPOINTS}{r.json()['id']}/", json={"url": "https://10.1.2.3/hook"}
    )
    assert r.status_code == 422 and "10.1.2.3" in r.json()["detail"]
