"""A plugin that requires promotions runs after it in the cart's pipeline: a tax plugin taxes
the discounted amount, in quotes and in the order placed."""

from __future__ import annotations

import types
from decimal import Decimal
from typing import Any

import pytest
from commerce_cart.api import Adjustment

from commerce_kernel import Plugin, hookimpl

SEEN: list[list[Adjustment]] = []


def _tax_plugin() -> types.ModuleType:
    mod = types.ModuleType("test_promotions_tax_plugin")
    mod.plugin = Plugin(name="test_tax", version="0", requires=("promotions",))  # type: ignore[attr-defined]

    @hookimpl
    def cart_adjustments(subtotal: Decimal, adjustments: list[Adjustment]) -> list[Any]:
        SEEN.append(list(adjustments))
        taxable = subtotal + sum(a.amount for a in adjustments)
        return [*adjustments, Adjustment("TAX", "Sales tax", taxable * Decimal("0.0825"))]

    mod.cart_adjustments = cart_adjustments  # type: ignore[attr-defined]
    return mod


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[types.ModuleType]:
    return [_tax_plugin()]


async def test_tax_is_computed_on_the_discounted_amount(kernel, customer, make_product, promotion):
    await promotion(code="TEN", kind="percentage", value="10")
    auto = await promotion(kind="fixed", value="1.00", label="Automatic")
    product = await make_product(price="20.00")
    await customer.client.post("/api/cart/", json={"product_id": product.id, "quantity": 3})
    await customer.client.post("/api/cart/promotions/", json={"code": "TEN"})
    SEEN.clear()
    body = (await customer.client.get("/api/cart/total/")).json()
    # 60.00 - 1.00 - 6.00 = 53.00 taxable; 8.25% = 4.3725 → 4.37
    assert body["adjustments"] == [
        {"code": f"promotion:{auto['id']}", "label": "Automatic", "amount": "-1.00"},
        {"code": "TEN", "label": "10% off", "amount": "-6.00"},
        {"code": "TAX", "label": "Sales tax", "amount": "4.37"},
    ]
    assert body["total"] == "57.37"
    # The tax plugin was handed the promotions' amounts, already exact to the cent.
    assert [(a.code, a.amount) for a in SEEN[0]] == [
        (f"promotion:{auto['id']}", Decimal("-1.00")),
        ("TEN", Decimal("-6.00")),
    ]
    order = (await customer.client.post("/api/orders/")).json()
    assert order["adjustments"] == body["adjustments"]
    assert order["total"] == "57.37"
