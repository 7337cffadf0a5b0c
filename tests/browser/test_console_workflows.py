"""The workflows pages in a real browser: the editor's check at each problem's line, save,
activate, a run started from the input form, a stale save shown as a conflict, the diff."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.pages_support import Expected, csrf, expected, page
from tests.factories import TenantCtx, UserCtx

WRONG = """\
name: greet
input_schema:
  type: object
  required: [who]
  properties:
    who: {type: string, description: Whom to greet}
    times: {type: integer}
steps:
  - id: prepare
    uses: transform
    with: {greeting: hello}
  - id: finish
    uses: noop
    needs: [prepare, nowhere]
"""
FIXED = WRONG.replace("needs: [prepare, nowhere]", "needs: [prepare]")
__all__ = ["expected", "page"]  # fixtures
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_a_designer_writes_fixes_saves_activates_and_starts_a_run(
    page: Any, live: Live, tenant: TenantCtx, expected: Expected
) -> None:
    expected.allow(404, "/ui/runs/")  # the run page is the console branch's; here maybe not yet
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto("/ui/workflows/new")
    # a need naming no step: the problem is shown at its line (14)
    page.get_by_test_id("definition").fill(WRONG)
    problem = page.get_by_test_id("validation-errors").locator("li")
    expect(problem).to_have_count(1)
    expect(problem.first).to_have_attribute("data-line", "14")
    assert "/steps/1/needs" in (problem.first.get_attribute("data-pointer") or "")
    screenshot(page, "workflow-editor-error")
    # fixed: no problem left, and the preview draws both steps
    page.get_by_test_id("definition").fill(FIXED)
    expect(page.get_by_test_id("validation-ok")).to_be_visible()
    expect(problem).to_have_count(0)
    expect(page.locator("[data-testid=dag-preview] [data-step-id]")).to_have_count(2)
    # save → the workflow's page, a draft; activate
    page.get_by_test_id("save").click()
    page.wait_for_url(re.compile(rf"/ui/workflows/{UUID}$"))
    workflow_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("workflow-status")).to_have_attribute("data-status", "draft")
    page.get_by_test_id("activate").click()
    expect(page.get_by_test_id("workflow-status")).to_have_attribute("data-status", "active")
    screenshot(page, "workflow")
    # the run form is the input_schema's: fill it and start
    form = page.get_by_test_id("run-input")
    form.locator("[data-field=who]").fill("Ada")
    form.locator("[data-field=times]").fill("2")
    page.get_by_test_id("start-run").click()
    page.wait_for_url(re.compile(rf"/ui/runs/{UUID}$"))
    run_id = page.url.rsplit("/", 1)[1]
    run = live.api.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers)
    assert run.status_code == 200, run.text
    assert run.json()["workflow_id"] == workflow_id
    assert run.json()["input"] == {"who": "Ada", "times": 2}


def test_a_save_over_a_newer_version_is_a_conflict_and_versions_diff(
    page: Any, live: Live, tenant: TenantCtx, expected: Expected
) -> None:
    expected.allow(412, "/save")  # the conflict page answers 412
    created = live.api.post("/v1/workflows", headers=tenant.admin_headers,
                            json={"name": "racy", "definition": FIXED})  # fmt: skip
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/workflows/{workflow_id}")
    editor = page.get_by_test_id("definition")
    expect(editor).to_have_value(re.compile("id: prepare"))
    # someone else saves version 2 meanwhile
    other = live.api.put(
        f"/v1/workflows/{workflow_id}/definition",
        headers={**tenant.admin_headers, "If-Match": created.headers["ETag"]},
        json={"definition": FIXED.replace("greeting: hello", "greeting: hi")},
    )
    assert other.status_code == 200, other.text
    editor.fill(FIXED.replace("uses: noop", "uses: transform"))
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("message")).to_contain_text("Conflict")
    expect(editor).to_have_value(re.compile("uses: transform"))  # the user's text is kept
    versions = live.api.get(f"/v1/workflows/{workflow_id}/versions", headers=tenant.admin_headers)
    assert len(versions.json()["items"]) == 2  # nothing overwritten, nothing added
    # reload, save again: version 3; the diff of v2 → v3 shows the changed line
    page.goto(f"/ui/workflows/{workflow_id}")
    page.get_by_test_id("definition").fill(
        FIXED.replace("greeting: hello", "greeting: hi").replace("uses: noop", "uses: transform")
    )
    page.get_by_test_id("save").click()
    expect(page.locator("[data-testid=versions] tr[data-version]")).to_have_count(3)
    page.get_by_test_id("diff-a").select_option("2")
    page.get_by_test_id("diff-b").select_option("3")
    page.get_by_test_id("diff-show").click()
    changed = page.locator("[data-testid=diff] tr[data-kind=changed]")
    expect(changed).to_have_count(1)
    expect(changed.first).to_contain_text('"transform"')
    screenshot(page, "workflow-diff")


def test_a_viewer_sees_no_write_controls_and_a_forged_save_is_403(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    created = live.api.post("/v1/workflows", headers=tenant.admin_headers,
                            json={"name": "look-only", "definition": FIXED})  # fmt: skip
    workflow_id = created.json()["id"]
    viewer = users["viewer"]
    sign_in(page, tenant.slug, viewer.email, viewer.password)
    page.goto(f"/ui/workflows/{workflow_id}")
    expect(page.get_by_test_id("definition")).to_have_value(re.compile("id: finish"))
    for control in ("save", "activate", "archive", "start-run"):
        expect(page.get_by_test_id(control)).to_have_count(0)
    forged = page.request.post(
        f"/ui/workflows/{workflow_id}/activate",
        form={"csrf_token": csrf(page), "version": str(created.json()["version"])},
    )
    assert forged.status == 403
    shown = live.api.get(f"/v1/workflows/{workflow_id}", headers=tenant.admin_headers)
    assert shown.json()["status"] == "draft"


def test_another_tenants_workflow_is_not_found(page: Any, live: Live, tenant: TenantCtx) -> None:
    from tests.factories import create_tenant

    other = create_tenant(live.api)
    created = live.api.post("/v1/workflows", headers=other.admin_headers,
                            json={"name": "theirs", "definition": FIXED})  # fmt: skip
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    answer = page.request.get(f"/ui/workflows/{created.json()['id']}")
    assert answer.status == 404
