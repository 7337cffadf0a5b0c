"""The approvals inbox in a real browser: a manager answers; the count is in the navigation."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.flows import APPROVAL, active_workflow, start_run
from tests.factories import TenantCtx, UserCtx
from tests.support.polling import wait_until


def test_a_manager_answers_an_approval_from_the_inbox(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    headers = tenant.admin_headers
    run_id = start_run(live.api, headers, active_workflow(live.api, headers, APPROVAL))
    manager = users["manager"]
    sign_in(page, tenant.slug, manager.email, manager.password)
    expect(page.get_by_test_id("nav-approvals-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    page.get_by_role("link", name=re.compile("Approvals")).click()
    page.wait_for_url("**/ui/approvals")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row).to_contain_text("manager")
    screenshot(page, "approvals")
    before = int(page.get_by_test_id("nav-approvals-count").inner_text())
    row.get_by_test_id("approve").click()
    page.wait_for_url("**/ui/approvals")
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)
    expect(page.get_by_test_id("nav-approvals-count")).to_have_text(str(before - 1))
    wait_until(
        lambda: live.api.get(f"/v1/runs/{run_id}", headers=headers).json()["status"] == "succeeded",
        timeout=20,
        message="the approved run to succeed",
    )


def test_a_viewer_has_an_empty_inbox_and_a_user_cannot_answer(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    headers = tenant.admin_headers
    start_run(live.api, headers, active_workflow(live.api, headers, APPROVAL))
    user = users["user"]  # "user" is below "manager": the step is not theirs
    sign_in(page, tenant.slug, user.email, user.password)
    expect(page.get_by_test_id("nav-approvals-count")).to_have_text("0")
    page.goto("/ui/approvals")
    expect(page.get_by_test_id("approve")).to_have_count(0)
