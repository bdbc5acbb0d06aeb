"""Adjustments from third-party plugins: a discount and a tax line through the pipeline hook."""

from __future__ import annotations

import types
from decimal import Decimal
from typing import Any

import pytest
from commerce_cart.api import Adjustment

from commerce_kernel import Plugin, hookimpl


def _discount_plugin() -> types.ModuleType:
    """10% off any cart of 50.00 or more (an Adjustment object)."""
    mod = types.ModuleType("test_discount_plugin")
    mod.plugin = Plugin(name="test_discount", version="0", requires=("cart",))  # type: ignore[attr-defined]

    @hookimpl
    async def cart_adjustments(subtotal: Decimal, adjustments: list[Any]) -> list[Any] | None:
        if subtotal < 50:
            return None
        return [*adjustments, Adjustment("DISCOUNT10", "10% off", -subtotal / 10)]

    mod.cart_adjustments = cart_adjustments  # type: ignore[attr-defined]
    return mod


def _tax_plugin() -> types.ModuleType:
    """8.25% tax on the discounted amount; runs after the discount (it requires it), and
    answers a plain dict to show implementations need not import the cart."""
    mod = types.ModuleType("test_tax_plugin")
    mod.plugin = Plugin(name="test_tax", version="0", requires=("cart", "test_discount"))  # type: ignore[attr-defined]

    @hookimpl
    def cart_adjustments(subtotal: Decimal, adjustments: list[Any]) -> list[Any]:
        taxable = subtotal + sum(a.amount for a in adjustments)
        return [
            *adjustments,
            {"code": "TAX", "label": "Sales tax", "amount": taxable * Decimal("0.0825")},
        ]

    mod.cart_adjustments = cart_adjustments  # type: ignore[attr-defined]
    return mod


AUDIT: list[tuple[bool, list[Any]]] = []


def _audit_plugin() -> types.ModuleType:
    """Runs last (it requires the tax plugin): records what it was handed."""
    mod = types.ModuleType("test_audit_plugin")
    mod.plugin = Plugin(name="test_audit", version="0", requires=("test_tax",))  # type: ignore[attr-defined]

    @hookimpl
    def cart_adjustments(placing: bool, adjustments: list[Any]) -> None:
        AUDIT.append((placing, list(adjustments)))

    mod.cart_adjustments = cart_adjustments  # type: ignore[attr-defined]
    return mod


@pytest.fixture(scope="session")
def commerce_extra_plugins() -> list[Any]:
    return [_discount_plugin(), _tax_plugin(), _audit_plugin()]


@pytest.fixture(autouse=True)
def _clear_audit() -> None:
    AUDIT.clear()


async def test_discount_and_tax_compose_in_the_total(customer, make_product):
    p = await make_product(price="20.00", stock=10)
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 3})
    r = await customer.client.get("/api/cart/total/")
    assert r.status_code == 200, r.text
    # 60.00 - 6.00 = 54.00; tax 4.455 → 4.46 (half up); total 58.46
    assert r.json() == {
        "items_count": 3,
        "subtotal": "60.00",
        "adjustments": [
            {"code": "DISCOUNT10", "label": "10% off", "amount": "-6.00"},
            {"code": "TAX", "label": "Sales tax", "amount": "4.46"},
        ],
        "total": "58.46",
        "currency": "USD",
    }


async def test_a_plugin_may_leave_the_pipeline_unchanged(customer, make_product):
    p = await make_product(price="10.00", stock=10)
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    body = (await customer.client.get("/api/cart/total/")).json()
    assert [a["code"] for a in body["adjustments"]] == ["TAX"]
    assert body["total"] == "10.83"  # 10.00 + 0.825 → 0.83


async def test_a_later_implementation_gets_adjustments_even_from_a_plain_dict(
    customer, make_product
):
    p = await make_product(price="10.00", stock=10)
    await customer.client.post("/api/cart/", json={"product_id": p.id, "quantity": 1})
    await customer.client.get("/api/cart/total/")
    ((placing, handed),) = AUDIT
    assert placing is False  # a quote
    assert handed == [Adjustment("TAX", "Sales tax", Decimal("0.825"))]
