"""The API docs page in a real browser: Debian's chromium driven by Playwright loads
/api/docs/ from a live server; Swagger UI renders the operations under the page's
Content-Security-Policy, with no violation and no request leaving the machine."""

from __future__ import annotations

from commerce_kernel.testing import open_page


async def test_swagger_ui_renders_offline_under_its_csp(live_server, browser):
    watched = await open_page(browser, live_server)
    page = watched.page
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

    await watched.assert_clean()
