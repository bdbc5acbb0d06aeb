"""Pages in a real browser: Debian's chromium driven by Playwright (a test dependency, imported
only when a test asks for a browser). Nothing is downloaded at run time: the browser is
`/usr/bin/chromium`, which `scripts/setup` installs. Without it (or without the playwright
package) a browser test is skipped, and fails under `CI=true`.

`browser` (the fixture) is a launched Playwright browser; `await open_page(browser, url)` gives
a `WatchedPage` on a fresh page that may fetch only from `url`'s host, records every
Content-Security-Policy violation, script error and request to another host, and checks them
all with `await watched.assert_clean()`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (scripts/setup installs it)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Before any page script runs (injected by the browser, so not itself subject to the CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def _playwright_or_skip() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing = "the playwright package (requirements-dev.txt)"
    else:
        if CHROMIUM.exists():
            return async_playwright
        missing = f"{CHROMIUM} (Debian's chromium; scripts/setup installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test needs {missing}")
    pytest.skip(f"needs {missing}")


@contextlib.asynccontextmanager
async def launched_browser() -> AsyncIterator[Any]:
    """`async with launched_browser() as browser:` a headless chromium (the `browser`
    fixture)."""
    async_playwright = _playwright_or_skip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class WatchedPage:
    """A page and what it did: console lines and script errors, requests refused because
    they went to another host than the server's, the WebSockets it opened."""

    def __init__(self, page: Any, server: str) -> None:
        self.page = page
        self.server = urlsplit(server).netloc
        self.console: list[str] = []
        self.outside: list[str] = []
        self.sockets: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    async def only_this_server(self, route: Any) -> None:
        if urlsplit(route.request.url).netloc == self.server:
            await route.continue_()
        else:
            self.outside.append(route.request.url)
            await route.abort()

    async def text(self, selector: str) -> str:
        return str(await self.page.locator(selector).inner_text()).strip()

    async def assert_clean(self) -> None:
        """No CSP violation, no script error, nothing fetched from another host, every
        socket to this server."""
        assert await self.page.evaluate("window.__cspViolations") == []
        assert not [m for m in self.console if "Content Security Policy" in m], self.console
        assert not [m for m in self.console if m.startswith(("error", "pageerror"))], self.console
        assert self.outside == []
        assert all(urlsplit(u).netloc == self.server for u in self.sockets), self.sockets


async def open_page(
    browser: Any,
    server: str,
    *,
    watch: Callable[[Any, str], WatchedPage] = WatchedPage,
    before: Callable[[Any], Awaitable[None]] | None = None,
    viewport: dict[str, int] | None = None,
) -> Any:
    """A fresh page (its own context) watched by `watch(page, server)` (a `WatchedPage` or a
    subclass), held to `server`'s host; `before(page)` runs before anything is loaded (to
    route a socket, say). Go somewhere with `watched.page.goto(...)`."""
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = await context.new_page()
    watched = watch(page, server)
    await page.add_init_script(RECORD_VIOLATIONS)
    await page.route("**/*", watched.only_this_server)
    if before is not None:
        await before(page)
    return watched
