"""Cart tests: the cart plugin (and the catalog it requires) on the backend under test."""

from __future__ import annotations

import pytest
from commerce_catalog.api import make_product  # noqa: F401 - a fixture


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["cart"]
