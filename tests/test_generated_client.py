"""A front end's first integration: a typed client generated from `/api/openapi.json` by
openapi-python-client (offline, no post-hooks), driving sign-up → cart → order → cancel
against a real server. A status the document does not list fails the test (the client raises
on undocumented statuses), and every answer must parse into its documented model."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from commerce_catalog import api as catalog

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "shop_api_client"
# No post-hooks: the generator's default runs ruff over the output, which a test needs not.
CONFIG = f"post_hooks: []\npackage_name_override: {PACKAGE}\n"

make_product = catalog.make_product  # the catalog's fixture, for these tests too


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    """Every plugin this repository ships (plugins/<name>/)."""
    return sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


async def generate(url: str, into: Path) -> None:
    """What a front-end developer runs: `openapi-python-client generate --url ...`. Awaited
    as a subprocess, so the server in this event loop answers its request for the document."""
    config = into / "config.yml"
    config.write_text(CONFIG)
    proc = await asyncio.create_subprocess_exec(
        str(GENERATOR),
        "generate",
        "--url",
        f"{url}/api/openapi.json",
        "--config",
        str(config),
        "--meta",
        "none",
        "--output-path",
        str(into / PACKAGE),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    if not GENERATOR.exists():
        # requirements-dev.txt installs it (scripts/setup); CI must not skip this test.
        message = f"{GENERATOR.name} is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_signs_up_fills_the_cart_orders_and_cancels(
    live_server, importable, make_product
):
    await generate(live_server, importable)
    client_mod = module("client")
    models = module("models")
    auth = module("api.auth.signup")
    add_to_cart = module("api.cart.add_to_cart")
    get_cart = module("api.cart.get_cart")
    cart_total = module("api.cart.cart_total")
    place_order = module("api.orders.place_order")
    get_order = module("api.orders.get_order")
    cancel_order = module("api.orders.cancel_order")
    get_product = module("api.catalog.get_product")

    shirt = await make_product(price="12.50", stock=5, name="Blue shirt")

    anonymous = client_mod.Client(base_url=live_server, raise_on_unexpected_status=True)
    signed_up = await auth.asyncio_detailed(
        client=anonymous,
        body=models.SignupIn(email="front.end@example.com", password="correct horse"),
    )
    assert signed_up.status_code == 201, signed_up.content
    tokens = signed_up.parsed
    assert isinstance(tokens, models.TokensWithUser)
    assert tokens.token_type == "Bearer" and tokens.user.email == "front.end@example.com"

    me = client_mod.AuthenticatedClient(
        base_url=live_server, token=tokens.access_token, raise_on_unexpected_status=True
    )
    product = (await get_product.asyncio_detailed(shirt.id, client=anonymous)).parsed
    assert isinstance(product, models.ProductOut)
    assert (product.price, product.currency, product.stock) == ("12.50", "USD", 5)

    added = await add_to_cart.asyncio_detailed(
        client=me, body=models.CartItemIn(product_id=shirt.id, quantity=2)
    )
    assert added.status_code == 201, added.content
    assert isinstance(added.parsed, models.CartItemOut) and added.parsed.line_total == "25.00"

    total = (await cart_total.asyncio_detailed(client=me)).parsed
    assert isinstance(total, models.CartTotalOut)
    assert (total.items_count, total.subtotal, total.total) == (2, "25.00", "25.00")
    assert total.adjustments == [] and total.currency == "USD"

    # The body is optional (the cart is ordered); the key is a declared header parameter.
    placed = await place_order.asyncio_detailed(client=me, idempotency_key="checkout-1")
    assert placed.status_code == 201, placed.content
    order = placed.parsed
    assert isinstance(order, models.OrderOut)
    assert order.status == models.OrderStatus.PENDING and order.total == "25.00"
    assert [(i.sku, i.quantity, i.line_total) for i in order.items] == [(shirt.sku, 2, "25.00")]

    retried = await place_order.asyncio_detailed(client=me, idempotency_key="checkout-1")
    assert retried.status_code == 200, retried.content
    assert isinstance(retried.parsed, models.OrderOut) and retried.parsed.id == order.id
    cart = (await get_cart.asyncio_detailed(client=me)).parsed
    assert isinstance(cart, models.CartOut) and cart.items == [] and cart.items_count == 0

    read = (await get_order.asyncio_detailed(order.id, client=me)).parsed
    assert isinstance(read, models.OrderOut) and read.id == order.id

    cancelled = await cancel_order.asyncio_detailed(order.id, client=me)
    assert cancelled.status_code == 204, cancelled.content
    read = (await get_order.asyncio_detailed(order.id, client=me)).parsed
    assert isinstance(read, models.OrderOut) and read.status == models.OrderStatus.CANCELLED
    back = (await get_product.asyncio_detailed(shirt.id, client=anonymous)).parsed
    assert isinstance(back, models.ProductOut) and back.stock == 5

    # Errors are typed too: problem+json parsed into the document's Problem model.
    again = await cancel_order.asyncio_detailed(order.id, client=me)
    assert again.status_code == 409
    assert isinstance(again.parsed, models.Problem) and again.parsed.status == 409
    assert again.parsed.detail
