"""The auth_password plugin: email + password sign-up and sign-in, admin sign-in with TOTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

plugin = Plugin(
    name="auth_password",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Email + password sign-in (argon2id); admin sign-in with optional TOTP.",
)


@hookimpl
def settings_section() -> tuple[str, type]:
    from commerce_auth_password.settings import PasswordSettings

    return ("auth_password", PasswordSettings)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# `specname`: the function cannot be called `routes`, because importing the submodule
# `routes` rebinds that package attribute and pluggy would no longer find the hook.
@hookimpl(specname="routes")
def http_routes(kernel: Any) -> list[Any]:
    from commerce_auth_password.routes import routes as plugin_routes

    return plugin_routes()


@hookimpl
async def startup(kernel: Any) -> None:
    from commerce_auth_password.service import hashing_for

    # Build the hasher and its dummy hash now, so the first unknown-email login costs the
    # same as every other one.
    hashing_for(kernel)


@hookimpl
async def set_password(kernel: Any, session: Any, account_id: int, password: str) -> bool:
    from commerce_auth_password.service import store_password_for_account

    await store_password_for_account(kernel, session, account_id, password)
    return True
