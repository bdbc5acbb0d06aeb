import pytest

# Cheap argon2 for tests only (the production defaults stay argon2-cffi's), and a per-address
# limit small enough to reach in a test.
SETTINGS = {
    "PASSWORD_HASH_TIME_COST": "1",
    "PASSWORD_HASH_MEMORY_COST": "1024",
    "PASSWORD_HASH_PARALLELISM": "1",
    "LOGIN_FAILURES_PER_ADDRESS": "25",
}


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_password"]


@pytest.fixture(scope="session")
def commerce_settings():
    # The kernel builds plugin settings sections from the environment, not from these
    # overrides, so they are set in both places (spawned processes get them from the dict).
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SETTINGS.items():
            mp.setenv(key, value)
        yield dict(SETTINGS)
