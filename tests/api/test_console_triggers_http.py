"""The console's trigger and run-link pages over HTTP: a workflow's schedules and hooks, a run's
tree, rerun and signal forms; their permissions, CSRF, conflicts and tenant fences."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import time
from typing import Any

import pytest

from tests.api.test_console_http import _nonce, sign_in
from tests.api.test_run_links import WAITS, start
from tests.factories import TenantCtx, UserCtx, active_workflow

pytestmark = pytest.mark.timeout(120)

SIMPLE = {"name": "simple", "steps": [{"id": "a", "uses": "noop"}]}
FAILS = {"name": "fails", "steps": [
    {"id": "a", "uses": "transform", "with": {"x": 1}},
    {"id": "b", "uses": "fail", "needs": ["a"], "with": {"message": "${{ input.why }}"}},
    {"id": "c", "uses": "noop", "needs": ["b"]},
]}  # fmt: skip
WEEKDAYS = "0 9 * * 1-5"
FIRE_TIME = re.compile(r'data-utc="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"')


def _as(client: Any, tenant: TenantCtx, user: Any) -> None:
    r = sign_in(client, tenant.slug, user.email, user.password)
    assert r.status_code == 303, r.text


def _page(client: Any, path: str) -> Any:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r


def _schedules(client: Any, tenant: TenantCtx, wf: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/workflows/{wf}/schedules", headers=tenant.admin_headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _create_schedule(client: Any, wf: str, token: str, **fields: str) -> Any:
    form = {"cron": WEEKDAYS, "timezone": "Europe/Paris", "overlap": "skip", "catchup": "none",
            "input": '{"n": 1}', "csrf_token": token, **fields}  # fmt: skip
    return client.post(f"/ui/workflows/{wf}/schedules", data=form, follow_redirects=False)


def test_a_manager_adds_a_schedule_and_sees_its_next_fire_times(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, users["manager"])
    page = _page(client, f"/ui/workflows/{wf}")
    assert 'data-testid="schedule-form"' in page.text
    assert 'data-testid="hook-form"' in page.text
    r = _create_schedule(client, wf, _nonce(page.text))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/ui/workflows/{wf}#schedules"
    [made] = _schedules(client, tenant, wf)
    assert (made["cron"], made["timezone"], made["input"]) == (WEEKDAYS, "Europe/Paris", {"n": 1})
    page = _page(client, f"/ui/workflows/{wf}")
    row = page.text[page.text.index(f'data-schedule-id="{made["id"]}"'):]
    assert 'data-status="active"' in row[:80]
    shown = FIRE_TIME.findall(row)[:5]
    expected = [t.replace("+00:00", "Z") for t in made["next_fire_times"]]
    assert shown == [t[:19] + "Z" for t in expected]
    assert len(shown) == 5


def test_a_bad_schedule_is_shown_on_the_page_and_stores_nothing(
    client: Any, tenant: TenantCtx
) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, tenant.admin)
    token = _nonce(_page(client, f"/ui/workflows/{wf}").text)
    for fields in ({"cron": "every tuesday"}, {"timezone": "Mars/Olympus"},
                   {"overlap": "sometimes"}, {"input": "{not json"}):  # fmt: skip
        r = _create_schedule(client, wf, token, **fields)
        assert r.status_code == 422, (fields, r.status_code)
        assert 'data-testid="trigger-message"' in r.text, fields
    assert _schedules(client, tenant, wf) == []


def test_pause_resume_and_delete_take_the_version_the_page_showed(
    client: Any, tenant: TenantCtx
) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, tenant.admin)
    token = _nonce(_page(client, f"/ui/workflows/{wf}").text)
    assert _create_schedule(client, wf, token).status_code == 303
    [made] = _schedules(client, tenant, wf)
    base = f"/ui/workflows/{wf}/schedules/{made['id']}"
    shown = {"csrf_token": token, "version": str(made["version"])}
    # someone else pauses it meanwhile: the page's version is stale, a conflict is shown
    stale = {**tenant.admin_headers, "If-Match": f'"{made["version"]}"'}
    r = client.patch(f"/v1/schedules/{made['id']}", json={"status": "paused"}, headers=stale)
    assert r.status_code == 200, r.text
    r = client.post(f"{base}/resume", data=shown, follow_redirects=False)
    assert r.status_code == 412
    assert "Conflict" in html.unescape(r.text)
    [now] = _schedules(client, tenant, wf)
    assert (now["status"], now["version"]) == ("paused", made["version"] + 1)
    current = {"csrf_token": token, "version": str(now["version"])}
    assert client.post(f"{base}/resume", data=current, follow_redirects=False).status_code == 303
    [now] = _schedules(client, tenant, wf)
    assert now["status"] == "active"
    assert client.post(f"{base}/nonsense", data=current).status_code == 404
    r = client.post(f"{base}/delete", data={**current, "version": str(now["version"])},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert _schedules(client, tenant, wf) == []


def test_a_hook_shows_its_secret_once_with_a_working_signing_recipe(
    client: Any, tenant: TenantCtx
) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, tenant.admin)
    token = _nonce(_page(client, f"/ui/workflows/{wf}").text)
    r = client.post(f"/ui/workflows/{wf}/hooks", data={"csrf_token": token, "mapping": ""})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="hook-secret">([^<]+)<', r.text)
    url = re.search(r'data-testid="hook-url">([^<]+)<', r.text)
    assert secret
    assert url
    hook_id = url.group(1).rsplit("/", 1)[1]
    assert url.group(1) == f"http://testserver/v1/hooks/{hook_id}"
    example = html.unescape(r.text[r.text.index('data-testid="hook-example"'):])
    assert f"SECRET={secret.group(1)}" in example
    assert "openssl dgst -sha256 -hmac" in example
    # the recipe: HMAC-SHA256 of timestamp + "." + body, under the secret shown
    body, ts = b'{"hello":"world"}', str(int(time.time()))
    sig = hmac.new(secret.group(1).encode(), ts.encode() + b"." + body, hashlib.sha256)
    signed = {"Content-Type": "application/json", "X-Platinum-Timestamp": ts,
              "X-Platinum-Delivery": "console-1",
              "X-Platinum-Signature": f"sha256={sig.hexdigest()}"}  # fmt: skip
    r = client.post(f"/v1/hooks/{hook_id}", content=body, headers=signed)
    assert r.status_code == 202, r.text
    run_page = _page(client, f"/ui/runs/{r.json()['run_id']}").text
    assert 'data-testid="run-trigger" data-kind="hook"' in run_page
    assert "delivery console-1" in run_page
    # the workflow's page lists the hook, never its secret again
    page = _page(client, f"/ui/workflows/{wf}")
    assert f'data-hook-id="{hook_id}"' in page.text
    assert secret.group(1) not in page.text
    r = client.post(f"/ui/workflows/{wf}/hooks/{hook_id}/delete", data={"csrf_token": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    hooks = client.get(f"/v1/workflows/{wf}/hooks", headers=tenant.admin_headers).json()
    assert hooks["items"] == []


def test_roles_below_manager_see_no_trigger_forms_and_their_posts_are_refused(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    for role in ("viewer", "user"):
        _as(client, tenant, users[role])
        page = _page(client, f"/ui/workflows/{wf}")
        for hook in ("schedule-form", "hook-form", "schedules", "hooks"):
            assert f'data-testid="{hook}"' not in page.text, (role, hook)
        token = _nonce(page.text)
        assert _create_schedule(client, wf, token).status_code == 403, role
        r = client.post(f"/ui/workflows/{wf}/hooks", data={"csrf_token": token})
        assert r.status_code == 403, role
    assert _schedules(client, tenant, wf) == []
    assert client.get(f"/v1/workflows/{wf}/hooks", headers=tenant.admin_headers).json()[
        "items"
    ] == []


def test_trigger_forms_need_the_csrf_token(client: Any, tenant: TenantCtx) -> None:
    wf = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, tenant.admin)
    assert _create_schedule(client, wf, "").status_code == 403
    assert client.post(f"/ui/workflows/{wf}/hooks", data={}).status_code == 403
    assert _schedules(client, tenant, wf) == []


def test_another_tenants_workflow_schedule_and_hook_look_missing(
    client: Any, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    theirs = active_workflow(client, other_tenant.admin_headers, SIMPLE)
    made = client.post(f"/v1/workflows/{theirs}/schedules", json={"cron": WEEKDAYS},
                       headers=other_tenant.admin_headers).json()  # fmt: skip
    hook = client.post(f"/v1/workflows/{theirs}/hooks", json={},
                       headers=other_tenant.admin_headers).json()  # fmt: skip
    mine = active_workflow(client, tenant.admin_headers, SIMPLE)
    _as(client, tenant, tenant.admin)
    token = _nonce(_page(client, f"/ui/workflows/{mine}").text)
    html_ = {"Accept": "text/html"}
    assert client.get(f"/ui/workflows/{theirs}", headers=html_).status_code == 404
    assert _create_schedule(client, theirs, token).status_code == 404
    for wf in (theirs, mine):  # through their workflow's path or through mine
        r = client.post(f"/ui/workflows/{wf}/schedules/{made['id']}/pause",
                        data={"csrf_token": token, "version": "1"}, headers=html_)  # fmt: skip
        assert r.status_code == 404
        r = client.post(f"/ui/workflows/{wf}/hooks/{hook['id']}/delete",
                        data={"csrf_token": token}, headers=html_)  # fmt: skip
        assert r.status_code == 404
    still = client.get(f"/v1/schedules/{made['id']}", headers=other_tenant.admin_headers).json()
    assert still["status"] == "active"
    hooks = client.get(f"/v1/workflows/{theirs}/hooks", headers=other_tenant.admin_headers)
    assert [h["id"] for h in hooks.json()["items"]] == [hook["id"]]
    client.delete(f"/v1/schedules/{made['id']}", headers=other_tenant.admin_headers)


# -- a run's links: rerun, signals ------------------------------------------------------------


def test_a_failed_run_is_rerun_from_its_page_and_the_new_run_links_back(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(client, tenant.admin_headers, FAILS)
    first = start(client, tenant.admin_headers, wf, {"why": "first"})
    _as(client, tenant, users["user"])
    page = _page(client, f"/ui/runs/{first}")
    assert 'data-testid="rerun-form"' in page.text
    assert "the failed steps (b)" in page.text
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key
    form = {"csrf_token": _nonce(page.text), "from_step": "", "input": '{"why": "again"}',
            "key": key.group(1)}  # fmt: skip
    r = client.post(f"/ui/runs/{first}/rerun", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    new = r.headers["location"].rsplit("/", 1)[1]
    # the form posted twice (a double click, a reload) is the same rerun
    again = client.post(f"/ui/runs/{first}/rerun", data=form, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]
    run = client.get(f"/v1/runs/{new}", headers=tenant.admin_headers).json()
    assert (run["rerun_of"], run["input"]) == (first, {"why": "again"})
    assert {s["id"]: s["reused_from"] for s in run["steps"]}["a"] == first
    shown = _page(client, f"/ui/runs/{new}").text
    assert f'data-testid="run-rerun-of" href="/ui/runs/{first}"' in shown


def test_a_bad_rerun_is_shown_on_the_run_page(
    client: Any, tenant: TenantCtx, other_tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    wf = active_workflow(client, tenant.admin_headers, FAILS)
    first = start(client, tenant.admin_headers, wf, {"why": "first"})
    _as(client, tenant, tenant.admin)
    token = _nonce(_page(client, f"/ui/runs/{first}").text)
    for form, status in (({"from_step": "nope"}, 422), ({"input": "[1,"}, 422)):
        r = client.post(f"/ui/runs/{first}/rerun", data={"csrf_token": token, **form})
        assert r.status_code == status, (form, r.text)
        assert 'data-testid="message"' in r.text
    assert client.post(f"/ui/runs/{first}/rerun", data={}).status_code == 403  # no CSRF token
    their_wf = active_workflow(client, other_tenant.admin_headers, FAILS)
    theirs = start(client, other_tenant.admin_headers, their_wf, {"why": "x"})
    r = client.post(f"/ui/runs/{theirs}/rerun", data={"csrf_token": token})
    assert r.status_code == 404
    assert client.get(f"/ui/runs/{theirs}/links").status_code == 404
    # a viewer sees no rerun form, and its post is refused
    _as(client, tenant, users["viewer"])
    page = _page(client, f"/ui/runs/{first}")
    assert 'data-testid="rerun-form"' not in page.text
    r = client.post(f"/ui/runs/{first}/rerun", data={"csrf_token": _nonce(page.text)})
    assert r.status_code == 403
    listed = client.get(f"/v1/runs?workflow_id={wf}", headers=tenant.admin_headers).json()
    assert [x["id"] for x in listed["items"]] == [first]


def test_a_signal_is_sent_from_the_run_page(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    run_id = start(client, tenant.admin_headers, active_workflow(client, tenant.admin_headers,
                                                                  WAITS))  # fmt: skip
    _as(client, tenant, users["viewer"])
    assert 'data-testid="signal-form"' not in _page(client, f"/ui/runs/{run_id}").text
    _as(client, tenant, users["user"])
    page = _page(client, f"/ui/runs/{run_id}")
    assert 'data-signal="go"' in page.text
    token = _nonce(page.text)
    r = client.post(f"/ui/runs/{run_id}/signals", data={"csrf_token": token, "name": "go",
                                                       "payload": "{oops"})  # fmt: skip
    assert r.status_code == 422
    r = client.post(f"/ui/runs/{run_id}/signals", data={"csrf_token": token, "name": "go",
                    "payload": '{"ok": 1}'}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["go"]["output"] == {"ok": 1}
    page = _page(client, f"/ui/runs/{run_id}")
    assert 'data-testid="signal-form"' not in page.text  # nothing waits any more


def test_an_approval_takes_an_optional_comment(client: Any, tenant: TenantCtx) -> None:
    from tests.browser.flows import APPROVAL
    from tests.browser.flows import start_run as start_approval

    run_id = start_approval(client, tenant.admin_headers,
                            active_workflow(client, tenant.admin_headers, APPROVAL))  # fmt: skip
    _as(client, tenant, tenant.admin)
    page = _page(client, f"/ui/runs/{run_id}")
    assert 'data-testid="decision-comment"' in page.text
    r = client.post(f"/ui/runs/{run_id}/steps/approve/approve", follow_redirects=False,
                    data={"csrf_token": _nonce(page.text), "comment": "looks right"})  # fmt: skip
    assert r.status_code == 303
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    assert {s["id"]: s for s in run["steps"]}["approve"]["output"]["comment"] == "looks right"
    assert "Approved approve: looks right" in _page(client, f"/ui/runs/{run_id}").text
