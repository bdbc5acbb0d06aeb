"""The hot requests stay lean: each sends exactly the SQL statements counted here (on each
backend), so a change that adds a round trip to product detail, the list, the cart or
checkout fails this test and has to say why in the figures below."""

from __future__ import annotations

import asyncio

import commerce_catalog.api as catalog
import pytest

# Statements per request, once the customer's token state is cached. SQLite's BEGIN is a
# statement; a MariaDB transaction begins implicitly. COMMIT and ROLLBACK count; the pool's
# ping and reset of a connection are not statements and do not.
EXPECTED = {
    "sqlite": {
        "product detail": 2,
        "product list (search + ordering)": 3,
        "browse": 3,
        "cart add": 4,
        "cart total": 2,
        "place order": 7,
    },
    "mysql": {
        "product detail": 1,
        "product list (search + ordering)": 2,
        "browse": 2,
        "cart add": 3,
        "cart total": 1,
        "place order": 6,
    },
}


make_product = catalog.make_product  # the catalog's fixture, for this test too


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders"]


async def test_hot_requests_send_the_counted_statements(
    kernel, client, customer, make_product, sql_statements
):
    await assert_counted(EXPECTED, kernel, client, customer, make_product, sql_statements)


async def assert_counted(expected, kernel, client, customer, make_product, sql_statements):
    """Send each hot request once and compare the statements it sent with `expected`."""
    product = await make_product(name="Steel mug", stock=50)
    # A customer token's state is read once, then cached (on Redis, once this process has
    # subscribed to the changes that drop it): wait for that.
    for _ in range(100):
        with sql_statements() as seen:
            await customer.client.get("/api/cart/")
        if not any("token_epoch" in statement for statement in seen):
            break
        await asyncio.sleep(0.05)
    requests = {
        "product detail": lambda: client.get(f"/api/products/{product.id}/"),
        "product list (search + ordering)": lambda: client.get(
            "/api/products/", params={"search": "steel", "ordering": "-price"}
        ),
        "browse": lambda: client.get("/api/products/"),
        "cart add": lambda: customer.client.post(
            "/api/cart/", json={"product_id": product.id, "quantity": 1}
        ),
        "cart total": lambda: customer.client.get("/api/cart/total/"),
        "place order": lambda: customer.client.post(
            "/api/orders/", json={"items": [{"product_id": product.id, "quantity": 1}]}
        ),
    }
    counted: dict[str, int] = {}
    sent: dict[str, list[str]] = {}
    for name, request in requests.items():
        with sql_statements() as seen:
            r = await request()
        assert r.status_code in (200, 201), r.text
        counted[name], sent[name] = len(seen), seen
    backend = "mysql" if kernel.db.is_mysql else "sqlite"
    assert counted == expected[backend], "\n".join(
        f"{name}: {len(s)}\n  " + "\n  ".join(x[:120] for x in s) for name, s in sent.items()
    )
