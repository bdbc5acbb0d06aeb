"""The auth_otp plugin: passwordless sign-in with a one-time code sent by email."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from commerce_auth_otp import __version__
from commerce_auth_otp import routes as http
from commerce_auth_otp.service import SEND_CODE
from commerce_auth_otp.settings import OTPSettings
from commerce_auth_otp.tasks import purge_expired, send_code
from commerce_kernel import CronJob, Kernel, Plugin, SectionSettings, Task, hookimpl

plugin = Plugin(
    name="auth_otp",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Passwordless sign-in with a one-time code sent by email.",
)


@hookimpl
def settings_section() -> list[type[SectionSettings]]:
    return [OTPSettings]


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    return http.routes()


@hookimpl
def tasks(kernel: Kernel) -> list[Task]:
    return [Task(SEND_CODE, send_code, max_tries=6, timeout=60)]


@hookimpl
def cron_jobs(kernel: Kernel) -> list[CronJob]:
    return [CronJob("auth_otp.purge_expired", purge_expired, minute=17, second=0)]
