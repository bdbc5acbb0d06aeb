"""Admins create, list, read, change and deactivate promotions; customers cannot."""

from __future__ import annotations

ADMIN = "/api/admin/promotions/"


async def test_an_admin_creates_a_code_stored_upper_cased(admin):
    r = await admin.client.post(
        ADMIN, json={"code": " welcome10 ", "kind": "percentage", "value": "10"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"{ADMIN}{body['id']}/"
    assert body["code"] == "WELCOME10"
    assert body["label"] == "10% off"
    assert body["value"] == "10.00"
    assert (body["used"], body["combinable"], body["active"]) == (0, True, True)
    assert body["usage_limit"] is None and body["per_customer_limit"] is None


async def test_a_code_is_unique_whatever_its_case(admin, promotion):
    await promotion(code="SUMMER", kind="fixed", value="5.00")
    r = await admin.client.post(ADMIN, json={"code": "summer", "kind": "fixed", "value": "1"})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "SUMMER"


async def test_automatic_promotions_have_no_code_and_may_be_many(promotion):
    a = await promotion(kind="fixed", value="1.00")
    b = await promotion(kind="fixed", value="2.00", label="Two off")
    assert a["code"] is None and b["code"] is None
    assert (a["label"], b["label"]) == ("1.00 off", "Two off")


async def test_invalid_promotions_are_422(admin):
    bad = [
        {"kind": "percentage", "value": "101"},
        {"kind": "percentage"},
        {"kind": "fixed", "value": "0"},
        {"kind": "fixed", "value": "1.001"},
        {"kind": "product_fixed", "value": "1.00"},  # no product_ids
        {"kind": "fixed", "value": "1.00", "product_ids": [1]},
        {"kind": "buy_x_get_y", "product_ids": [1], "buy_quantity": 2},
        {
            "kind": "buy_x_get_y",
            "product_ids": [1],
            "buy_quantity": 2,
            "get_quantity": 1,
            "value": "1",
        },
        {"kind": "fixed", "value": "1", "code": "NO SPACES"},
        {
            "kind": "fixed",
            "value": "1",
            "starts_at": "2030-01-02T00:00:00Z",
            "ends_at": "2030-01-01T00:00:00Z",
        },
        {"kind": "fixed", "value": "1", "ends_at": "2030-01-01T00:00:00"},  # no time zone
        {"kind": "fixed", "value": "1", "usage_limit": 0},
        {"kind": "discount", "value": "1"},
        {"kind": "fixed", "value": "1", "surprise": True},
    ]
    for fields in bad:
        r = await admin.client.post(ADMIN, json=fields)
        assert r.status_code == 422, (fields, r.text)


async def test_list_read_change_and_deactivate(admin, promotion):
    first = await promotion(code="A1", kind="percentage", value="10")
    second = await promotion(code="B2", kind="fixed", value="3.00", label="Three off")
    page = (await admin.client.get(ADMIN)).json()
    assert page["count"] == 2
    assert [p["code"] for p in page["results"]] == ["B2", "A1"]  # newest first
    assert (await admin.client.get(f"{ADMIN}{first['id']}/")).json() == first

    r = await admin.client.patch(
        f"{ADMIN}{first['id']}/", json={"value": "15", "ends_at": "2031-01-01T00:00:00Z"}
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["value"] == "15.00"
    assert changed["label"] == "15% off"  # a derived label follows the value
    assert changed["ends_at"] == "2031-01-01T00:00:00Z"
    r = await admin.client.patch(f"{ADMIN}{second['id']}/", json={"value": "4.00"})
    assert r.json()["label"] == "Three off"  # an admin's own label stays
    r = await admin.client.patch(f"{ADMIN}{first['id']}/", json={"ends_at": None})
    assert r.json()["ends_at"] is None
    # Changed into something invalid as a whole: 422, and nothing changed.
    r = await admin.client.patch(f"{ADMIN}{first['id']}/", json={"kind": "product_fixed"})
    assert r.status_code == 422, r.text
    r = await admin.client.patch(f"{ADMIN}{first['id']}/", json={"code": "b2"})
    assert r.status_code == 409, r.text
    assert (await admin.client.get(f"{ADMIN}{first['id']}/")).json()["kind"] == "percentage"

    r = await admin.client.delete(f"{ADMIN}{first['id']}/")
    assert r.status_code == 204, r.text
    assert (await admin.client.get(f"{ADMIN}{first['id']}/")).json()["active"] is False
    r = await admin.client.patch(f"{ADMIN}{first['id']}/", json={"active": True})
    assert r.json()["active"] is True


async def test_unknown_promotions_are_404(admin):
    assert (await admin.client.get(f"{ADMIN}99999/")).status_code == 404
    assert (await admin.client.patch(f"{ADMIN}99999/", json={})).status_code == 404
    assert (await admin.client.delete(f"{ADMIN}99999/")).status_code == 404


async def test_customers_and_strangers_may_not_manage_promotions(client, customer):
    body = {"kind": "fixed", "value": "1.00"}
    assert (await customer.client.post(ADMIN, json=body)).status_code == 403
    assert (await customer.client.get(ADMIN)).status_code == 403
    assert (await client.get(ADMIN)).status_code == 401
