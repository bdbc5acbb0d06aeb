"""live_counts tests: the plugin with the catalog and orders it requires, on either backend."""

from __future__ import annotations

from typing import Any

import pytest
from commerce_catalog.api import make_product  # noqa: F401 - a fixture


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return ["live_counts"]


@pytest.fixture
def multiprocess(kernel: Any) -> None:
    """Skip unless the run has MariaDB + Redis (real server processes need both)."""
    if not kernel.settings.redis_url or kernel.settings.embedded:
        pytest.skip(
            "real `commerce serve` processes need MariaDB + Redis: set "
            "COMMERCE_TEST_DATABASE_URL and COMMERCE_TEST_REDIS_URL"
        )
