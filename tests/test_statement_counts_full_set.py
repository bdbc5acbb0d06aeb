"""The same hot requests with every built-in plugin installed, as `commerce serve` runs them
(and as the harness measures them): what promotions, webhooks and live_counts add to a cart
total and an order is counted here, so it cannot grow unnoticed either."""

from __future__ import annotations

import commerce_catalog.api as catalog
import pytest

from tests.test_statement_counts import EXPECTED as ORDERS_ALONE
from tests.test_statement_counts import assert_counted

# What the other plugins add to tests/test_statement_counts.py (orders alone), on each
# backend: a cart total reads the automatic promotions and the customer's applied codes (+2);
# placing an order reads them too (+2), clears the applied codes (+1), raises and reads back the
# product's live count (+2), and its durable events take one more INSERT into
# kernel_event_deliveries (+1).
ADDED = {"cart total": 2, "place order": 6}
EXPECTED = {
    backend: {name: n + ADDED.get(name, 0) for name, n in counts.items()}
    for backend, counts in ORDERS_ALONE.items()
}

make_product = catalog.make_product


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["orders", "promotions", "webhooks", "live_counts"]


async def test_hot_requests_with_every_plugin_send_the_counted_statements(
    kernel, client, customer, make_product, sql_statements
):
    await assert_counted(EXPECTED, kernel, client, customer, make_product, sql_statements)
