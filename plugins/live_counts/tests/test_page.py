"""The /live/ page in a real browser: Debian's chromium driven by Playwright opens /live/ from a
live server, lists the products by units sold, shows an order placed through the API within a
moment and re-sorts, and comes back by itself when its socket drops; all under the page's
Content-Security-Policy, with no request leaving the machine."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from commerce_kernel.testing import WatchedPage, open_page

# The board as the owner reads it: rank, name, SKU, units sold, top to bottom.
READ_BOARD = """() => [...document.querySelectorAll("#rows tr")].map((row) =>
  [".rank", ".name", ".sku", ".figure"].map((cell) => row.querySelector(cell).textContent))"""

LIVE_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "img-src": "'self' data:",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}


class LivePage(WatchedPage):
    """The /live/ page: the board as the owner reads it."""

    async def state_becomes(self, state: str) -> str:
        status = self.page.locator(f'#status[data-state="{state}"]')
        await status.wait_for(timeout=15_000)
        return (await status.inner_text()).strip()

    async def board_becomes(self, expected: list[list[str]], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (rows := await self.page.evaluate(READ_BOARD)) != expected:
            if asyncio.get_running_loop().time() > deadline:
                assert rows == expected
            await asyncio.sleep(0.05)

    async def figure_flashes(self, product_id: int, kind: str) -> bool:
        return bool(
            await self.page.evaluate(
                "([id, kind]) => document.querySelector("
                "`#rows tr[data-product-id='${id}'] .figure`).classList.contains(kind)",
                [product_id, kind],
            )
        )

    async def screenshot(self, path: Path) -> None:
        """A full-page picture once rows have stopped sliding (a changed figure may still
        be highlighted)."""
        await self.page.wait_for_function(
            "() => document.getAnimations().every((a) =>"
            " a.effect?.target?.tagName !== 'TR' || a.playState === 'finished')"
        )
        await self.page.screenshot(path=path, full_page=True)

    async def assert_clean(self) -> None:
        await super().assert_clean()
        assert self.sockets  # the page kept its figures live over its socket


OpenLive = Callable[..., Awaitable[LivePage]]


@pytest.fixture
def open_live(live_server: str, browser: Any) -> OpenLive:
    """`await open_live(before=...)`: a fresh browser page on `/live/` of the live server
    (`before(page)` runs first, to route its socket)."""

    async def open_live_page(before: Callable[[Any], Awaitable[None]] | None = None) -> LivePage:
        live: LivePage = await open_page(browser, live_server, watch=LivePage, before=before)
        response = await live.page.goto(f"{live_server}/live/", wait_until="load")
        assert response is not None and response.status == 200
        return live

    return open_live_page


@pytest_asyncio.fixture(loop_scope="session")
async def shop_api(live_server: str, customer: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The customer's HTTP client of the live server (real sockets, like a shopper's app)."""
    auth = {"Authorization": customer.client.headers["Authorization"]}
    async with httpx.AsyncClient(base_url=live_server, headers=auth) as api:
        yield api


async def _order(api: httpx.AsyncClient, product_id: int, quantity: int) -> int:
    r = await api.post(
        "/api/orders/", json={"items": [{"product_id": product_id, "quantity": quantity}]}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_page_shows_an_order_at_once_and_resorts(open_live, shop_api, make_product, tmp_path):
    lamp = await make_product(name="Alpha lamp", stock=20)
    mug = await make_product(name="Beta mug", stock=20)
    live = await open_live()
    assert await live.state_becomes("live") == "Live"
    # Ties (nothing sold yet) in name order.
    await live.board_becomes([["1", "Alpha lamp", lamp.sku, "0"], ["2", "Beta mug", mug.sku, "0"]])
    assert await live.text("#total") == "0"
    assert await live.text("#shown") == "2"
    assert "Top 100" in await live.text(".scope")

    order = await _order(shop_api, mug.id, 3)
    await live.board_becomes([["1", "Beta mug", mug.sku, "3"], ["2", "Alpha lamp", lamp.sku, "0"]])
    assert await live.figure_flashes(mug.id, "flash-up")
    assert await live.text("#total") == "3"
    assert re.fullmatch(r"\d{1,2}:\d{2}:\d{2}(\s[AP]M)?", await live.text("#updated"))
    assert (await live.page.title()).startswith("3 sold")
    await live.screenshot(tmp_path / "live.png")

    # A cancelled order gives its units back: the figure falls and the order flips again.
    r = await shop_api.delete(f"/api/orders/{order}/")
    assert r.status_code == 204, r.text
    await live.board_becomes([["1", "Alpha lamp", lamp.sku, "0"], ["2", "Beta mug", mug.sku, "0"]])
    assert await live.figure_flashes(mug.id, "flash-down")
    assert await live.text("#total") == "0"

    await live.page.set_viewport_size({"width": 390, "height": 844})
    await live.screenshot(tmp_path / "live-phone.png")
    await live.assert_clean()


async def test_page_reconnects_by_itself_and_catches_up(open_live, shop_api, make_product):
    lamp = await make_product(name="Alpha lamp", stock=20)
    mug = await make_product(name="Beta mug", stock=20)
    accepted: list[Any] = []  # the page's sockets that reached the server
    refused = asyncio.Event()
    server_down = False

    async def socket_route(ws: Any) -> None:
        # While "the server is down", a new socket is closed at once (1013: try again later).
        if server_down:
            refused.set()
            await ws.close(code=1013, reason="try again later")
            return
        ws.connect_to_server()
        accepted.append(ws)

    async def route_socket(page: Any) -> None:
        await page.route_web_socket(re.compile(r"/ws/live-counts/$"), socket_route)

    live = await open_live(before=route_socket)
    await live.state_becomes("live")
    await live.board_becomes([["1", "Alpha lamp", lamp.sku, "0"], ["2", "Beta mug", mug.sku, "0"]])

    # The server drops the socket (1012: restarting) and refuses new ones for a while.
    server_down = True
    await accepted[-1].close(code=1012, reason="service restart")
    assert re.fullmatch(r"Reconnecting in \d+ s", await live.state_becomes("reconnecting"))
    # A sale while the page has no socket: the page learns it from its fresh read on return.
    await _order(shop_api, lamp.id, 2)
    await asyncio.wait_for(refused.wait(), 15)
    assert await live.text("#status") != "Live"
    server_down = False

    assert await live.state_becomes("live") == "Live"
    assert len(accepted) == 2
    await live.board_becomes([["1", "Alpha lamp", lamp.sku, "2"], ["2", "Beta mug", mug.sku, "0"]])

    # And it follows updates on the new socket.
    await _order(shop_api, mug.id, 5)
    await live.board_becomes([["1", "Beta mug", mug.sku, "5"], ["2", "Alpha lamp", lamp.sku, "2"]])

    # The browser loses the network: "Offline" until it is back, then live again.
    await live.page.context.set_offline(True)
    assert await live.state_becomes("offline") == "Offline"
    await live.page.context.set_offline(False)
    assert await live.state_becomes("live") == "Live"
    await live.assert_clean()


async def test_page_is_served_with_its_csp_and_only_local_assets(client):
    r = await client.get("/live/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp == LIVE_CSP
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    html = r.text
    again = await client.get("/live/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get("/live")).text == html

    # Every asset the page names is this plugin's, by content hash, kept for a year.
    types = {"live.js": "text/javascript", "live.css": "text/css", "icon.svg": "image/svg+xml"}
    named = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert {urlsplit(u).path for u in named} == {f"/live/{name}" for name in types}
    bodies = {"live.html": html}
    for url in named:
        name = urlsplit(url).path.rsplit("/", 1)[1]
        asset = await client.get(url)
        assert asset.status_code == 200
        assert asset.headers["content-type"].split(";")[0] == types[name]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        unversioned = await client.get(urlsplit(url).path)
        assert unversioned.headers["cache-control"] == "no-cache"
        bodies[name] = asset.text

    # Nothing from the internet: no absolute or protocol-relative URL, no CSS import or url().
    # (The SVG's namespace name is an identifier, never fetched.)
    bodies["icon.svg"] = bodies["icon.svg"].replace('xmlns="http://www.w3.org/2000/svg"', "")
    for name, body in bodies.items():
        assert not re.search(r"(?i)[a-z][a-z0-9+.-]*://|(?<![:\w/])//[\w-]+\.[\w.-]+", body), name
    assert "@import" not in bodies["live.css"] and "url(" not in bodies["live.css"]
    assert "innerHTML" not in bodies["live.js"] and "insertAdjacentHTML" not in bodies["live.js"]

    paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/live")]
