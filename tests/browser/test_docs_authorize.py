"""Swagger UI at /docs works offline: every request of the page stays on the service, and a
user calls an endpoint through Authorize with a session token and "Try it out"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.browser.conftest import Live, screenshot
from tests.factories import TenantCtx

LOCAL = {"127.0.0.1", "localhost"}


def _offline(page: Any) -> list[str]:
    """Refuse every request that would leave the machine; the list names the ones tried."""
    tried: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOCAL:
            r.continue_()
        else:
            tried.append(url)
            r.abort()

    page.route("**/*", route)
    return tried


def _try_get_me(page: Any) -> tuple[Any, Any]:
    """Open ``GET /v1/me`` in Swagger UI, "Try it out", Execute; its operation and status cell."""
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/v1/me"]')
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return operation, status


def test_docs_call_get_me_through_authorize_offline(page: Any, live: Live, tenant: TenantCtx):
    outside = _offline(page)
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .information-container")
    # Authorize: paste the tenant admin's session token into the bearer scheme
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    bearer = dialog.locator("form").filter(has_text="bearer (http, Bearer)")
    bearer.locator("input[type=text], input[type=password]").first.fill(tenant.admin.token)
    bearer.locator("button.authorize").click()
    bearer.locator("button.btn-done").click()
    # GET /v1/me: open it, "Try it out", Execute
    operation, status = _try_get_me(page)
    assert status.inner_text().strip().startswith("200")
    body = operation.locator(".live-responses-table .response-col_description pre").first
    assert tenant.admin.email in body.inner_text()
    screenshot(page, "docs-authorize")
    assert outside == []  # nothing was fetched from another host


def test_docs_without_authorize_gets_401(browser: Any, live: Live) -> None:
    # the same call without a token: the 401 shows that Authorize is what made the difference
    # (its own context: the ``page`` fixture fails on the 401 the browser logs, expected here)
    context = browser.new_context(base_url=live.base)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _offline(page)
    page.goto("/docs")
    _, status = _try_get_me(page)
    assert status.inner_text().strip().startswith("401")
    context.close()
