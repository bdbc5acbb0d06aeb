"""The orders plugin: placing orders (stock, idempotency, outbox mail) and their life cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_kernel import Plugin, hookimpl
from commerce_orders import hookspecs

__version__ = "0.1.0"

plugin = Plugin(
    name="orders",
    version=__version__,
    requires=("catalog", "cart"),
    kernel=">=0.1,<0.2",
    description="Orders from the cart or a list of items, idempotent, with mail and a life cycle.",
    hookspecs=hookspecs,
)


@hookimpl
def settings_section() -> tuple[str, Any]:
    from commerce_orders.settings import OrdersSettings

    return ("orders", OrdersSettings)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# Hook functions named after no submodule: importing `routes` or `tasks` would rebind that
# name on the package (hence `specname`).
@hookimpl(specname="routes")
def http_routes(kernel: Any) -> list[Any]:
    from commerce_orders.routes import build_routes

    return build_routes()


@hookimpl(specname="tasks")
def background_tasks(kernel: Any) -> list[Any]:
    from commerce_orders.tasks import TASKS

    return TASKS


@hookimpl
def cron_jobs(kernel: Any) -> list[Any]:
    from commerce_orders.tasks import CRON_JOBS

    return CRON_JOBS
