"""The cart plugin: a customer's cart priced from the catalog, and the price-adjustment hook."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from commerce_cart import __version__, hookspecs
from commerce_kernel import Plugin, hookimpl

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from commerce_kernel import Kernel

plugin = Plugin(
    name="cart",
    version=__version__,
    requires=("catalog",),
    kernel=">=0.1,<0.2",
    description="A customer's cart and the cart_adjustments pricing pipeline.",
    hookspecs=hookspecs,
)


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def routes(kernel: Kernel) -> list[BaseRoute]:
    from commerce_cart.routes import build_routes

    return build_routes()
