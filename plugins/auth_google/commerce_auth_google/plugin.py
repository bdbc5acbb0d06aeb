"""The auth_google plugin: sign in with a Google ID token (or an authorization code)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from commerce_auth_google import __version__
from commerce_auth_google import routes as http
from commerce_auth_google.settings import GoogleSettings
from commerce_kernel import Kernel, Plugin, SectionSettings, hookimpl

plugin = Plugin(
    name="auth_google",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Sign in with Google (ID token verified against Google's JWKS, or code flow).",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [GoogleSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return http.routes()
