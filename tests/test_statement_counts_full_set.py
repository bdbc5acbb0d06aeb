"""The same hot requests with every built-in plugin installed, as `commerce serve` runs them
(and as the harness measures them): what promotions, webhooks and live_counts add to a cart
total and an order is counted here, so it cannot grow unnoticed either."""

from __future__ import annotations

import commerce_catalog.api as catalog
import pytest

from tests.test_statement_counts import assert_counted

# Against tests/test_statement_counts.py (orders alone): a cart total reads the automatic
# promotions and the customer's applied codes (+2); placing an order reads them too (+2),
# clears the applied codes (+1), raises and reads back the product's live count (+2), and its
# durable events take one more INSERT into kernel_event_deliveries (+1) — 6 more in all.
EXPECTED = {
    "sqlite": {
        "product detail": 2,
        "product list (search + ordering)": 3,
        "browse": 3,
        "cart add": 5,
        "cart total": 5,
        "place order": 15,
    },
    "mysql": {
        "product detail": 1,
        "product list (search + ordering)": 2,
        "browse": 2,
        "cart add": 4,
        "cart total": 4,
        "place order": 14,
    },
}

make_product = catalog.make_product


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders", "promotions", "webhooks", "live_counts"]


async def test_hot_requests_with_every_plugin_send_the_counted_statements(
    kernel, client, customer, make_product, sql_statements
):
    await assert_counted(EXPECTED, kernel, client, customer, make_product, sql_statements)
