"""The auth_password plugin: email + password sign-up and sign-in, admin sign-in with TOTP."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute

from commerce_auth_password import __version__, service
from commerce_auth_password import routes as http
from commerce_auth_password.settings import PasswordSettings
from commerce_kernel import Kernel, Plugin, SectionSettings, hookimpl

plugin = Plugin(
    name="auth_password",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Email + password sign-in (argon2id); admin sign-in with optional TOTP.",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [PasswordSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return http.routes()


@hookimpl
async def startup(kernel: Kernel) -> None:
    # The hasher and its dummy hash are made now, so the first unknown-email login costs the
    # same as every other one.
    service.hashing_for(kernel)


@hookimpl
async def set_password(
    kernel: Kernel, session: AsyncSession, account_id: int, password: str
) -> bool:
    await service.set_password(kernel, session, account_id, password)
    return True


@hookimpl
async def email_proven(kernel: Kernel, session: AsyncSession, account_id: int) -> None:
    await service.forget_credentials(session, account_id)
