"""Kernel and whole-system tests.

The test-only third-party plugin in `thirdparty/` is installed (not editable, into a
temporary directory put on the path) so it is found through its entry point exactly as a
real third-party distribution would be. With CI=true the MariaDB + Redis run must not be
skipped: `scripts/test` sets COMMERCE_REQUIRE_SERVICES and this refuses to run without them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from commerce_kernel.testing import backend_urls
from tests.helpers.install import install_target

HERE = Path(__file__).parent
_site: Path | None = None


def add_to_path(site: Path) -> None:
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def pytest_configure(config: pytest.Config) -> None:
    global _site
    if os.environ.get("COMMERCE_REQUIRE_SERVICES") == "1":
        db, redis = backend_urls()
        if not (db and redis):
            raise pytest.UsageError(
                "the MariaDB + Redis run needs COMMERCE_TEST_DATABASE_URL and "
                "COMMERCE_TEST_REDIS_URL"
            )
    if os.environ.get("CI") == "true" and os.environ.get("COMMERCE_REQUIRE_SERVICES") is None:
        # CI runs scripts/test, which runs both backends; nothing to check for the first run.
        pass
    _site = Path(tempfile.mkdtemp(prefix="commerce-thirdparty-"))
    build = Path(tempfile.mkdtemp(prefix="commerce-thirdparty-src-"))
    shutil.copytree(HERE / "thirdparty", build / "src")
    install_target(build / "src", _site)
    shutil.rmtree(build, ignore_errors=True)
    add_to_path(_site)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _site is not None:
        shutil.rmtree(_site, ignore_errors=True)
