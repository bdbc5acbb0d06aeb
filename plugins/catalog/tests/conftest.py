import pytest


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["catalog"]
