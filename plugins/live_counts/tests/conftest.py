"""live_counts tests: the plugin with the catalog and orders it requires, on either backend."""

from __future__ import annotations

import pytest
from commerce_catalog.api import make_product  # noqa: F401 - a fixture


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["live_counts"]
