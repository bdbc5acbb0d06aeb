"""What each kind takes off, as `GET /api/cart/total/` shows it: exact Decimal, rounded half-up
to the minor unit per promotion, never below zero; automatic before codes; exclusive ones."""

from __future__ import annotations

from datetime import timedelta

from commerce_kernel import utcnow

CODES = "/api/cart/promotions/"
TOTAL = "/api/cart/total/"


def moment(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat().replace("+00:00", "Z")


async def apply(customer, code):
    return await customer.client.post(CODES, json={"code": code})


async def test_without_promotions_the_total_is_the_subtotal(cart, make_product):
    body = await cart((await make_product(price="12.34"), 2))
    assert body["adjustments"] == [] and body["total"] == body["subtotal"] == "24.68"


async def test_percentage_off_the_subtotal_rounds_half_up(customer, cart, promotion, make_product):
    await promotion(code="TENOFF", kind="percentage", value="10")
    await cart((await make_product(price="0.25"), 1), (await make_product(price="10.00"), 2))
    r = await apply(customer, "tenoff")
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": "TENOFF",
        "label": "10% off",
        "applies": True,
        "amount": "-2.03",
        "reason": None,
        "detail": None,
    }
    body = (await customer.client.get(TOTAL)).json()
    # 20.25 * 10% = 2.025 → 2.03 (half up, once for the promotion)
    assert body["adjustments"] == [{"code": "TENOFF", "label": "10% off", "amount": "-2.03"}]
    assert (body["subtotal"], body["total"]) == ("20.25", "18.22")


async def test_a_fixed_amount_never_takes_the_total_below_zero(
    customer, cart, promotion, make_product
):
    await promotion(code="FIFTY", kind="fixed", value="50.00")
    await cart((await make_product(price="7.50"), 2))
    assert (await apply(customer, "FIFTY")).status_code == 201
    body = (await customer.client.get(TOTAL)).json()
    assert body["adjustments"][0]["amount"] == "-15.00"
    assert body["total"] == "0.00"


async def test_product_percentage_and_fixed_touch_only_the_chosen_lines(
    customer, cart, promotion, make_product
):
    mug, tee = await make_product(price="3.33"), await make_product(price="20.00")
    await promotion(code="MUGS", kind="product_percentage", value="12.5", product_ids=[mug.id])
    await promotion(code="TEES", kind="product_fixed", value="25.00", product_ids=[tee.id])
    await cart((mug, 3), (tee, 2))
    assert (await apply(customer, "MUGS")).status_code == 201
    assert (await apply(customer, "TEES")).status_code == 201
    body = (await customer.client.get(TOTAL)).json()
    # mugs 9.99 * 12.5% = 1.24875 → 1.25; tees 25.00 a unit, but never more than the line (40.00)
    assert body["adjustments"] == [
        {"code": "MUGS", "label": "12.5% off selected products", "amount": "-1.25"},
        {"code": "TEES", "label": "25.00 off each selected product", "amount": "-40.00"},
    ]
    assert (body["subtotal"], body["total"]) == ("49.99", "8.74")


async def test_buy_two_get_one_free(customer, cart, promotion, make_product):
    sock, hat = await make_product(price="4.00"), await make_product(price="9.00")
    await promotion(
        code="3FOR2", kind="buy_x_get_y", product_ids=[sock.id], buy_quantity=2, get_quantity=1
    )
    await cart((sock, 2), (hat, 1))
    r = await apply(customer, "3for2")  # two socks: not yet a free one
    assert r.status_code == 409 and r.json()["reason"] == "not_applicable", r.text
    await cart((sock, 5))  # seven socks: two free ones
    assert (await apply(customer, "3for2")).status_code == 201
    body = (await customer.client.get(TOTAL)).json()
    assert body["adjustments"] == [
        {"code": "3FOR2", "label": "Buy 2 get 1 free", "amount": "-8.00"}
    ]
    assert body["total"] == "29.00"  # 28.00 + 9.00 - 8.00


async def test_automatic_promotions_come_first_and_combine_with_codes(
    customer, cart, promotion, make_product
):
    auto = await promotion(kind="fixed", value="5.00", label="Opening week")
    await promotion(code="TEN", kind="percentage", value="10")
    await cart((await make_product(price="30.00"), 1))
    body = (await customer.client.get(TOTAL)).json()
    assert body["adjustments"] == [
        {"code": f"promotion:{auto['id']}", "label": "Opening week", "amount": "-5.00"}
    ]
    await apply(customer, "TEN")
    body = (await customer.client.get(TOTAL)).json()
    # Each is computed on the subtotal: 10% of 30.00 is 3.00.
    assert [a["amount"] for a in body["adjustments"]] == ["-5.00", "-3.00"]
    assert body["total"] == "22.00"


async def test_a_non_combinable_promotion_is_taken_alone_when_it_takes_more(
    customer, cart, promotion, make_product
):
    await promotion(kind="fixed", value="2.00", label="Automatic two off")
    await promotion(code="HALF", kind="percentage", value="50", combinable=False)
    await promotion(code="TEN", kind="percentage", value="10")
    await cart((await make_product(price="20.00"), 1))
    assert (await apply(customer, "TEN")).status_code == 201
    assert (await apply(customer, "HALF")).status_code == 201
    body = (await customer.client.get(TOTAL)).json()
    assert body["adjustments"] == [{"code": "HALF", "label": "50% off", "amount": "-10.00"}]
    codes = {c["code"]: c for c in (await customer.client.get(CODES)).json()["codes"]}
    assert codes["HALF"]["applies"] is True
    assert (codes["TEN"]["applies"], codes["TEN"]["reason"]) == (False, "not_combined")


async def test_the_combinable_ones_win_over_an_exclusive_one_that_takes_less(
    customer, cart, promotion, make_product
):
    await promotion(kind="fixed", value="2.00", label="Automatic two off")
    await promotion(code="SMALL", kind="percentage", value="5", combinable=False)
    await promotion(code="TEN", kind="percentage", value="10")
    await cart((await make_product(price="20.00"), 1))
    await apply(customer, "SMALL")
    await apply(customer, "TEN")
    body = (await customer.client.get(TOTAL)).json()
    assert [a["amount"] for a in body["adjustments"]] == ["-2.00", "-2.00"]
    assert body["total"] == "16.00"


async def test_dates_and_minimums_decide_whether_a_code_applies(
    customer, cart, promotion, make_product
):
    await promotion(code="SOON", kind="fixed", value="1.00", starts_at=moment(timedelta(days=1)))
    await promotion(code="GONE", kind="fixed", value="1.00", ends_at=moment(-timedelta(days=1)))
    await promotion(code="BIG", kind="fixed", value="1.00", minimum_subtotal="50.00")
    await promotion(
        code="NOW",
        kind="fixed",
        value="1.00",
        starts_at=moment(-timedelta(days=1)),
        ends_at=moment(timedelta(days=1)),
    )
    await cart((await make_product(price="10.00"), 1))
    for code, reason in [
        ("SOON", "not_yet_valid"),
        ("GONE", "expired"),
        ("BIG", "minimum_not_met"),
    ]:
        r = await apply(customer, code)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (r.json()["reason"], r.json()["code"]) == (reason, code)
    assert "50.00" in (await apply(customer, "BIG")).json()["detail"]
    r = await apply(customer, "nope")
    assert r.status_code == 404 and r.json()["reason"] == "unknown", r.text
    assert (await apply(customer, "NOW")).status_code == 201
    assert (await apply(customer, "now")).status_code == 200  # already in the cart


async def test_a_code_that_stops_applying_leaves_the_quote(
    admin, customer, cart, promotion, make_product
):
    p = await promotion(code="BIG", kind="fixed", value="5.00", minimum_subtotal="20.00")
    product = await make_product(price="10.00")
    await cart((product, 2))
    assert (await apply(customer, "BIG")).status_code == 201
    assert (await customer.client.get(TOTAL)).json()["total"] == "15.00"
    await admin.client.delete(f"/api/admin/promotions/{p['id']}/")
    body = (await customer.client.get(TOTAL)).json()
    assert (body["adjustments"], body["total"]) == ([], "20.00")
    (code,) = (await customer.client.get(CODES)).json()["codes"]
    assert (code["code"], code["applies"], code["reason"]) == ("BIG", False, "inactive")


async def test_removing_a_code(customer, cart, promotion, make_product):
    await promotion(code="TEN", kind="percentage", value="10")
    await cart((await make_product(price="10.00"), 1))
    await apply(customer, "TEN")
    r = await customer.client.delete(f"{CODES}ten/")
    assert r.status_code == 204, r.text
    assert (await customer.client.get(TOTAL)).json()["total"] == "10.00"
    assert (await customer.client.get(CODES)).json() == {"codes": []}
    assert (await customer.client.delete(f"{CODES}TEN/")).status_code == 404
