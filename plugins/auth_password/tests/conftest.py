import pytest

# Cheap argon2 for tests only (the production defaults stay argon2-cffi's), and per-address
# limits small enough to reach in a test.
SETTINGS = {
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_COST": "1024",
    "PASSWORD_HASH_PARALLELISM": "1",
    "LOGIN_FAILURES_PER_ADDRESS": "25",
    "SIGNUPS_PER_ADDRESS_PER_HOUR": "8",
}


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_password"]


@pytest.fixture(scope="session")
def commerce_settings():
    # The settings sections read these overrides, and spawned processes get them in their
    # environment (`deployment.env`).
    return dict(SETTINGS)
