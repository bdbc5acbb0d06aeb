"""The auth_otp plugin: passwordless sign-in with a one-time code sent by email."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

plugin = Plugin(
    name="auth_otp",
    version=__version__,
    kernel=">=0.1,<0.2",
    description="Passwordless sign-in with a one-time code sent by email.",
)


@hookimpl
def settings_section() -> tuple[str, type]:
    from commerce_auth_otp.settings import OTPSettings

    return ("auth_otp", OTPSettings)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# `specname`: the function cannot be called `routes`, because importing the submodule
# `routes` rebinds that package attribute and pluggy would no longer find the hook.
@hookimpl(specname="routes")
def http_routes(kernel: Any) -> list[Any]:
    from commerce_auth_otp.routes import routes as plugin_routes

    return plugin_routes()


@hookimpl(specname="tasks")  # not `tasks`: the submodule of that name would shadow it
def background_tasks(kernel: Any) -> list[Any]:
    from commerce_auth_otp.tasks import SEND_CODE, send_code
    from commerce_kernel.tasks import Task

    return [Task(SEND_CODE, send_code, max_tries=6, timeout=60)]


@hookimpl
def cron_jobs(kernel: Any) -> list[Any]:
    from commerce_auth_otp.tasks import purge_expired
    from commerce_kernel.tasks import CronJob

    return [CronJob("auth_otp.purge_expired", purge_expired, minute=17, second=0)]
