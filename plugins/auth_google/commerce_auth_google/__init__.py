"""The auth_google plugin: sign in with a Google ID token (or an authorization code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

plugin = Plugin(
    name="auth_google",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Sign in with Google (ID token verified against Google's JWKS, or code flow).",
)


@hookimpl
def settings_section() -> tuple[str, type]:
    from commerce_auth_google.settings import GoogleSettings

    return ("google", GoogleSettings)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# `specname`: the function cannot be called `routes`, because importing the submodule
# `routes` rebinds that package attribute and pluggy would no longer find the hook.
@hookimpl(specname="routes")
def http_routes(kernel: Any) -> list[Any]:
    from commerce_auth_google.routes import routes as plugin_routes

    return plugin_routes()


@hookimpl
async def shutdown(kernel: Any) -> None:
    from commerce_auth_google.service import close_google_sign_in

    await close_google_sign_in(kernel)
