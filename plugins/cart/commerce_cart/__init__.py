"""The cart plugin: a customer's cart priced from the catalog, and the price-adjustment hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_cart import hookspecs
from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

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


# Not named `routes`: importing the `routes` submodule would rebind that name on the package.
@hookimpl(specname="routes")
def http_routes(kernel: Any) -> list[Any]:
    from commerce_cart.routes import build_routes

    return build_routes()
