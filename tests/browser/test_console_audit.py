"""The audit pages in a real browser: the timeline and its filters, verifying the chain, the
export, and a resource's history with its time slider."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.pages_support import expected, page
from tests.browser.test_console_workflows import FIXED
from tests.factories import TenantCtx, UserCtx
from tests.support.polling import wait_until

__all__ = ["expected", "page"]  # fixtures


def _workflow_with_two_versions(live: Live, tenant: TenantCtx) -> str:
    created = live.api.post("/v1/workflows", headers=tenant.admin_headers,
                            json={"name": "audited", "definition": FIXED})  # fmt: skip
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    changed = live.api.put(
        f"/v1/workflows/{workflow_id}/definition",
        headers={**tenant.admin_headers, "If-Match": created.headers["ETag"]},
        json={"definition": FIXED.replace("greeting: hello", "greeting: bonjour")},
    )
    assert changed.status_code == 200, changed.text
    # the audit projection follows the events: wait until both are audit rows
    wait_until(
        lambda: len(live.api.get(f"/v1/history/workflow/{workflow_id}",
                                 headers=tenant.admin_headers).json().get("events", [])) == 2,
        message="the workflow's two events in its history",
    )  # fmt: skip
    return workflow_id


def test_an_auditor_filters_the_timeline_verifies_the_chain_and_exports(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    workflow_id = _workflow_with_two_versions(live, tenant)
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto("/ui/audit")
    rows = page.locator("[data-testid=audit-events] tr[data-action]")
    expect(rows.first).to_be_visible()
    # filter by action and resource: only that workflow's creation
    page.get_by_test_id("filter-action").fill("Workflow.Created")
    page.get_by_test_id("filter-resource-id").fill(workflow_id)
    page.get_by_test_id("filter-apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-resource-id", workflow_id)
    # verify the hash chain
    page.get_by_test_id("audit-verify").click()
    result = page.get_by_test_id("audit-verify-result")
    expect(result).to_have_text(re.compile(r"^ok — \d+ events checked; chain head"))
    screenshot(page, "audit")
    # the export is the tenant's events as NDJSON CloudEvents
    download = page.request.get("/ui/audit/export")
    assert download.status == 200
    assert download.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in download.text().splitlines() if line]
    assert any(e.get("subject") == workflow_id or workflow_id in json.dumps(e) for e in lines)


def test_a_resources_history_slides_back_to_its_first_state(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    workflow_id = _workflow_with_two_versions(live, tenant)
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/history/workflow/{workflow_id}")
    as_of = page.get_by_test_id("history-as-of")
    expect(as_of).to_have_attribute("data-version", "2")
    expect(page.get_by_test_id("history-state")).to_contain_text("bonjour")
    # slide to the first change: the state then, and the later change listed
    page.get_by_test_id("history-slider").fill("1")
    expect(as_of).to_have_attribute("data-version", "1")
    expect(page.get_by_test_id("history-state")).to_contain_text("hello")
    expect(page.locator("[data-testid=history-since] li")).to_have_count(1)
    expect(page.locator("[data-testid=history-changes] tr[data-kind]").first).to_be_visible()
    screenshot(page, "history")


def test_a_viewer_cannot_open_the_audit_pages(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    viewer = users["viewer"]
    sign_in(page, tenant.slug, viewer.email, viewer.password)
    for url in ("/ui/audit", "/ui/audit/verify", "/ui/audit/export"):
        assert page.request.get(url).status == 403, url


def test_another_tenants_history_is_not_found(page: Any, live: Live, tenant: TenantCtx) -> None:
    from tests.factories import create_tenant

    other = create_tenant(live.api)
    theirs = _workflow_with_two_versions(live, other)
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    assert page.request.get(f"/ui/history/workflow/{theirs}").status == 404
