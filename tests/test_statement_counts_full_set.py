"""The same hot requests with every built-in plugin installed, as `commerce serve` runs them
(and as the harness measures them): what promotions, webhooks and live_counts add to a cart
total and an order is counted here, so it cannot grow unnoticed either."""

from __future__ import annotations

import commerce_catalog.api as catalog
import pytest

from tests.test_statement_counts import EXPECTED as ORDERS_ALONE
from tests.test_statement_counts import assert_counted

# What the other plugins add to tests/test_statement_counts.py (orders alone), on each
# backend: a cart total reads the automatic promotions and the customer's applied codes, in one
# statement (+1); placing an order reads them too (+1; no applied code, so nothing to clear).
# The live count costs an order nothing more: the catalog raises it in the stock statement and
# reads it back with the products. Webhooks reads which event types an endpoint subscribes to
# (+1, once for both of the order's events, with a shared lock: `commerce_webhooks.subscribed`);
# with no endpoint subscribed, as here, it declines both, so no durable delivery is written.
ADDED = {
    "sqlite": {"cart total": 1, "place order": 2},
    "mysql": {"cart total": 1, "place order": 2},
}
EXPECTED = {
    backend: {name: n + ADDED[backend].get(name, 0) for name, n in counts.items()}
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
