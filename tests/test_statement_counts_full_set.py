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
# reads it back with the products. The durable deliveries of the order's events (order_placed,
# sold_counts_changed) are written at commit in one INSERT into kernel_event_deliveries on
# MariaDB (+1); on SQLite each event takes its own (+2: SQLAlchemy does not batch an INSERT
# whose ids it reads back there).
ADDED = {
    "sqlite": {"cart total": 1, "place order": 3},
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
