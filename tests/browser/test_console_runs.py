"""The runs list and a run's page in a real browser: live statuses, details, cancel."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.flows import APPROVAL, TIMED, active_workflow, approve, start_run
from tests.factories import TenantCtx, UserCtx

NEVER_RELOADED = "window.__platinumMarker"


def _mark(page: Any) -> None:
    """A marker in the page's window: it survives only while the page is not reloaded."""
    page.evaluate(f"{NEVER_RELOADED} = 'still here'")


def _not_reloaded(page: Any) -> None:
    assert page.evaluate(NEVER_RELOADED) == "still here"


def test_every_step_turns_succeeded_on_the_run_page_without_a_reload(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    headers = tenant.admin_headers
    run_id = start_run(live.api, headers, active_workflow(live.api, headers, TIMED))
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/runs/{run_id}")
    _mark(page)
    expect(page.locator("svg.dag [data-step-id]")).to_have_count(6)
    # the run waits at its approval when the page opens: what follows arrives live
    expect(page.locator('[data-step-id="hold"]')).to_have_class("step waiting")
    expect(page.locator('[data-step-id="finish"]')).to_have_attribute("data-status", "pending")
    approve(live.api, headers, run_id, "hold")
    for step_id in ("prepare", "hold", "pause", "each", "side", "finish"):
        expect(page.locator(f'[data-step-id="{step_id}"]')).to_have_attribute(
            "data-status", "succeeded", timeout=20_000
        )
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "succeeded")
    expect(page.locator('[data-step-id="each"] text.sub')).to_have_text("transform \u00d7 · 3 of 3")
    expect(page.get_by_test_id("timeline")).to_contain_text("Succeeded")
    _not_reloaded(page)
    # a step's detail: attempts, input, output and timings
    page.locator('[data-step-id="each"]').click()
    detail = page.get_by_test_id("step-detail")
    expect(detail).to_contain_text("succeeded")
    expect(page.locator("#step-detail")).to_contain_text("StepSucceeded")
    screenshot(page, "run")


def test_the_runs_list_filters_and_updates_statuses_live(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    headers = tenant.admin_headers
    workflow_id = active_workflow(live.api, headers, TIMED)
    run_id = start_run(live.api, headers, workflow_id)
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/runs?workflow={workflow_id}")
    _mark(page)
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row).to_have_attribute("data-status", "running")
    approve(live.api, headers, run_id, "hold")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=20_000)
    _not_reloaded(page)
    screenshot(page, "runs")
    page.get_by_test_id("filter-status").select_option("failed")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)


def test_a_user_cancels_a_waiting_run(page: Any, live: Live, tenant: TenantCtx) -> None:
    headers = tenant.admin_headers
    run_id = start_run(live.api, headers, active_workflow(live.api, headers, APPROVAL))
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/runs/{run_id}")
    expect(page.get_by_test_id("approve")).to_be_visible()  # an admin holds "manager"
    screenshot(page, "run-waiting")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "cancelled")
    assert live.api.get(f"/v1/runs/{run_id}", headers=headers).json()["status"] == "cancelled"


def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_403(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    headers = tenant.admin_headers
    run_id = start_run(live.api, headers, active_workflow(live.api, headers, APPROVAL))
    viewer = users["viewer"]
    sign_in(page, tenant.slug, viewer.email, viewer.password)
    page.goto(f"/ui/runs/{run_id}")
    expect(page.locator('[data-step-id="approve"]')).to_have_class("step waiting")
    expect(page.get_by_test_id("approve")).to_have_count(0)
    expect(page.get_by_test_id("reject")).to_have_count(0)
    expect(page.get_by_test_id("cancel")).to_have_count(0)
    # the viewer forges the manager's form, with its own valid CSRF token: still 403
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    for action in ("steps/approve/approve", "cancel"):
        r = page.request.post(f"/ui/runs/{run_id}/{action}", form={"csrf_token": token},
                              headers={"Origin": live.base})  # fmt: skip
        assert r.status == 403, (action, r.status, r.text())
    # nothing happened to the run
    run = live.api.get(f"/v1/runs/{run_id}", headers=headers).json()
    assert run["status"] == "running"
    assert {s["id"]: s["status"] for s in run["steps"]}["approve"] == "running"
