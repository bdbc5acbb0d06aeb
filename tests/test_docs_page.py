"""The API docs page in a real browser: Debian's chromium driven by Playwright loads
/api/docs/ from a live server; Swagger UI renders the operations under the page's
Content-Security-Policy, with no violation and no request leaving the machine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

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


def _browser_or_skip() -> Any:
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


@pytest_asyncio.fixture(loop_scope="session")
async def browser_page() -> AsyncIterator[Any]:
    async_playwright = _browser_or_skip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = await browser.new_page()
            await page.add_init_script(RECORD_VIOLATIONS)
            yield page
        finally:
            await browser.close()


async def test_swagger_ui_renders_offline_under_its_csp(live_server, browser_page):
    page = browser_page
    console: list[str] = []
    outside: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))

    async def only_this_server(route: Any) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(live_server).netloc:
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_this_server)
    response = await page.goto(f"{live_server}/api/docs/", wait_until="load")
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    # The operations list: one block per operation, the health check among them.
    await page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.strip().replace("\u200b", "") == "/api/health/" for p in paths), paths
    # "Try it out" on the health check: the page's own request (connect-src) goes through.
    health = page.locator(
        ".opblock", has=page.locator(".opblock-summary-path[data-path='/api/health/']")
    )
    await health.locator(".opblock-summary").click()
    await health.locator("button.try-out__btn").click()
    await health.locator("button.execute").click()
    live = health.locator(".live-responses-table tbody .response-col_status")
    await live.first.wait_for(timeout=10_000)
    assert (await live.first.inner_text()).strip() == "200"
    await page.wait_for_load_state("networkidle")

    violations = await page.evaluate("window.__cspViolations")
    assert violations == []
    assert not [m for m in console if "Content Security Policy" in m or m.startswith("error")]
    assert outside == []
