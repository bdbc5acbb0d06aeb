"""Kernel and whole-system tests. With CI=true the MariaDB + Redis run must not be skipped."""

import os

import pytest

from commerce_kernel.testing import backend_urls


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and os.environ.get("COMMERCE_REQUIRE_SERVICES") == "1":
        db, redis = backend_urls()
        if not (db and redis):
            raise pytest.UsageError(
                "CI requires the MariaDB + Redis run: "
                "COMMERCE_TEST_DATABASE_URL and COMMERCE_TEST_REDIS_URL"
            )
