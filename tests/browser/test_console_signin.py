"""Signing in and out of the console in a real browser."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.conftest import ADMIN_TOKEN
from tests.factories import TenantCtx


def test_a_user_signs_in_sees_the_runs_and_signs_out(page: Any, tenant: TenantCtx) -> None:
    page.goto("/ui/")
    page.wait_for_url("**/ui/login")
    screenshot(page, "login")
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    expect(page.get_by_test_id("nav-approvals-count")).to_be_visible()
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/ui/login")
    page.goto("/ui/runs")
    page.wait_for_url("**/ui/login")


def test_the_platform_admin_signs_in_with_the_token(page: Any, tenant: TenantCtx) -> None:
    page.goto("/ui/login")
    page.locator("summary").click()
    page.get_by_test_id("login-admin-token").fill(ADMIN_TOKEN)
    page.get_by_test_id("login-admin-submit").click()
    page.wait_for_url("**/ui/platform")
    expect(page.get_by_test_id("tenants")).to_contain_text(tenant.slug)
    screenshot(page, "platform")
