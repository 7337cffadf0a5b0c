"""Triggers and run links in a real browser: a schedule's next fire times, a hook's secret shown
once (and its signing recipe run as shown), a signal sent and a failed run rerun from its page,
a parent run's children followed live."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.flows import active_workflow, start_run
from tests.factories import TenantCtx, UserCtx
from tests.support.polling import wait_until

SIMPLE = {"name": "simple", "steps": [{"id": "a", "uses": "noop"}]}
SIGNALLED = {"name": "signalled", "steps": [
    {"id": "prepare", "uses": "transform", "with": {"x": 1}},
    {"id": "go", "uses": "signal", "needs": ["prepare"], "with": {"name": "go"}},
    {"id": "check", "uses": "fail", "needs": ["go"], "with": {"message": "${{ input.why }}"}},
]}  # fmt: skip
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _run(live: Live, tenant: TenantCtx, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = live.api.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    return run


def test_a_manager_adds_a_schedule_sees_its_next_fire_times_pauses_and_deletes_it(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(live.api, tenant.admin_headers, SIMPLE)
    manager = users["manager"]
    sign_in(page, tenant.slug, manager.email, manager.password)
    page.goto(f"/ui/workflows/{wf}")
    page.get_by_test_id("schedule-cron-input").fill("0 9 * * 1-5")  # weekdays: never in a test
    page.get_by_test_id("schedule-timezone").fill("Europe/Paris")
    page.get_by_test_id("schedule-overlap").select_option("cancel_previous")
    page.get_by_test_id("schedule-create").click()
    page.wait_for_url(f"**/ui/workflows/{wf}#schedules")
    row = page.get_by_test_id("schedules").locator("tr[data-schedule-id]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text("cancel_previous / none")
    times = row.get_by_test_id("schedule-next").locator("li[data-utc]")
    expect(times).to_have_count(5)
    shown = [times.nth(i).get_attribute("data-utc") or "" for i in range(5)]
    assert all(RFC3339_UTC.match(t) for t in shown), shown
    assert shown == sorted(shown)
    assert len(set(shown)) == 5
    assert all(t[11:13] in ("07", "08") for t in shown)  # 09:00 in Paris, CET or CEST
    screenshot(page, "workflow-schedules")
    row.get_by_test_id("schedule-pause").click()
    expect(row).to_have_attribute("data-status", "paused")
    expect(row.get_by_test_id("schedule-next").locator("li[data-utc]")).to_have_count(0)
    row.get_by_test_id("schedule-delete").click()
    expect(page.get_by_test_id("schedules").locator("tr[data-schedule-id]")).to_have_count(0)
    listed = live.api.get(f"/v1/workflows/{wf}/schedules", headers=tenant.admin_headers)
    assert listed.json()["items"] == []


def test_a_hook_shows_its_secret_once_and_its_recipe_starts_a_run(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    wf = active_workflow(live.api, tenant.admin_headers, SIMPLE)
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/workflows/{wf}")
    page.get_by_test_id("hook-create").click()
    secret = page.get_by_test_id("hook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    url = page.get_by_test_id("hook-url").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(live.base)}/v1/hooks/{UUID}", url), url
    screenshot(page, "workflow-hook")
    # the example, run as shown (bash, openssl, curl), is a delivery the service accepts
    example = page.get_by_test_id("hook-example").inner_text()
    done = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    assert _run(live, tenant, run_id)["trigger"]["kind"] == "hook"
    # the secret is never shown again
    page.goto(f"/ui/workflows/{wf}")
    expect(page.get_by_test_id("hooks").locator("tr[data-hook-id]")).to_have_count(1)
    expect(page.get_by_test_id("hook-secret")).to_have_count(0)
    assert secret not in page.content()
    # the run page names its trigger
    page.goto(f"/ui/runs/{run_id}")
    expect(page.get_by_test_id("run-trigger")).to_have_attribute("data-kind", "hook")


def test_a_signal_is_sent_and_the_failed_run_is_rerun_from_its_page(
    page: Any, live: Live, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(live.api, tenant.admin_headers, SIGNALLED)
    r = live.api.post(f"/v1/workflows/{wf}/runs", headers=tenant.admin_headers,
                      json={"input": {"why": "first"}})  # fmt: skip
    first = r.json()["id"]
    user = users["user"]
    sign_in(page, tenant.slug, user.email, user.password)
    page.goto(f"/ui/runs/{first}")
    form = page.locator('[data-testid="signal-form"][data-signal="go"]')
    form.get_by_test_id("signal-payload").fill('{"ok": true}')
    form.get_by_test_id("signal-send").click()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "failed")
    assert _run(live, tenant, first)["steps"][1]["output"] == {"ok": True}
    # the run failed at `check`: rerun it from there with a new input
    rerun = page.get_by_test_id("rerun-form")
    expect(rerun.get_by_test_id("rerun-from-step")).to_contain_text("check (failed)")
    rerun.get_by_test_id("rerun-input").fill('{"why": "second"}')
    screenshot(page, "run-rerun")
    rerun.get_by_test_id("rerun").click()
    page.wait_for_url(re.compile(rf"/ui/runs/{UUID}$"))
    second = page.url.rsplit("/", 1)[1]
    assert second != first
    expect(page.get_by_test_id("run-rerun-of")).to_have_attribute("href", f"/ui/runs/{first}")
    run = wait_until(lambda: (x := _run(live, tenant, second))["status"] == "failed" and x,
                     timeout=20, message="the rerun to fail again")  # fmt: skip
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["go"]["reused_from"] == first  # the signal's output is reused, not awaited
    assert steps["check"]["error"]["message"] == "second"
    page.get_by_test_id("run-rerun-of").click()
    page.wait_for_url(f"**/ui/runs/{first}")


def test_a_parent_run_shows_its_children_and_follows_them_live(
    page: Any, live: Live, tenant: TenantCtx
) -> None:
    headers = tenant.admin_headers
    child_name = f"child-{uuid.uuid4().hex[:8]}"
    child = {"name": child_name, "steps": [
        {"id": "hold", "uses": "approval", "with": {"role": "manager"}}]}  # fmt: skip
    r = live.api.post("/v1/workflows", headers=headers,
                      json={"name": child_name, "definition": child})  # fmt: skip
    assert r.status_code == 201, r.text
    assert live.api.post(f"/v1/workflows/{r.json()['id']}/activate",
                         headers=headers).status_code == 200  # fmt: skip
    parent = {"name": "parent", "steps": [{"id": "sub", "uses": f"workflow:{child_name}"}]}
    parent_run = start_run(live.api, headers, active_workflow(live.api, headers, parent))
    child_id = wait_until(lambda: (_run(live, tenant, parent_run)["children"] or [None])[0],
                          timeout=20, message="the child run to start")  # fmt: skip
    sign_in(page, tenant.slug, tenant.admin.email, tenant.admin.password)
    page.goto(f"/ui/runs/{parent_run}")
    listed = page.get_by_test_id("run-children").locator(f'li[data-run-id="{child_id}"]')
    expect(listed).to_have_attribute("data-status", "running")
    expect(listed).to_contain_text("sub")
    screenshot(page, "run-tree")
    listed.locator("a").click()
    page.wait_for_url(f"**/ui/runs/{child_id}")
    expect(page.get_by_test_id("run-parent")).to_have_attribute("href", f"/ui/runs/{parent_run}")
    page.get_by_test_id("run-parent").click()
    page.wait_for_url(f"**/ui/runs/{parent_run}")
    # the child is approved elsewhere: the parent's page shows it succeeded, without a reload
    r = live.api.post(f"/v1/runs/{child_id}/steps/hold/approve", headers=headers)
    assert r.status_code == 200, r.text
    expect(page.get_by_test_id("run-status")).to_have_attribute(
        "data-status", "succeeded", timeout=20_000
    )
    expect(listed).to_have_attribute("data-status", "succeeded")
