"""The console over HTTP without a browser: sign-in cookie, CSRF, permissions, CSP, assets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN_TOKEN
from tests.factories import TenantCtx, UserCtx, create_tenant

HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"
"""htmx.org 2.0.4's dist/htmx.min.js, as published; the file shipped must be exactly it."""
STATIC = Path(__file__).resolve().parents[2] / "api" / "console" / "static"


def _nonce(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: Any, tenant: str, email: str, password: str) -> Any:
    """A fresh cookie jar signed in through the form; returns the client."""
    client.cookies.clear()
    page = client.get("/ui/login")
    assert page.status_code == 200
    return client.post(
        "/ui/login",
        data={"tenant": tenant, "email": email, "password": password,
              "csrf_token": _nonce(page.text)},
        follow_redirects=False,
    )  # fmt: skip


def test_the_shipped_htmx_is_the_pinned_release() -> None:
    from api.console.templating import HTMX

    assert hashlib.sha256((STATIC / HTMX).read_bytes()).hexdigest() == HTMX_SHA256


def test_ui_root_sends_a_stranger_to_sign_in(client: Any) -> None:
    client.cookies.clear()
    r = client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login"
    r = client.get("/ui/runs", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login"


def test_signing_in_sets_a_strict_http_only_session_cookie(client: Any, tenant: TenantCtx) -> None:
    r = sign_in(client, tenant.slug, tenant.admin.email, tenant.admin.password)
    assert r.status_code == 303, r.text
    cookie = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith("platinum_session="))  # fmt: skip
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/runs"
    page = client.get("/ui/runs")
    assert page.status_code == 200
    assert 'data-testid="nav-approvals-count"' in page.text


def test_a_wrong_password_shows_the_form_again(client: Any, tenant: TenantCtx) -> None:
    r = sign_in(client, tenant.slug, tenant.admin.email, "not the password")
    assert r.status_code == 401
    assert 'data-testid="login-submit"' in r.text


def test_a_login_post_without_the_form_nonce_is_refused(client: Any, tenant: TenantCtx) -> None:
    client.cookies.clear()
    r = client.post("/ui/login", data={"tenant": tenant.slug, "email": tenant.admin.email,
                                       "password": tenant.admin.password})  # fmt: skip
    assert r.status_code == 403


def test_pages_carry_a_strict_content_security_policy(client: Any) -> None:
    client.cookies.clear()
    r = client.get("/ui/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in r.text
    assert " style=" not in r.text


def test_logout_ends_the_session(client: Any, tenant: TenantCtx, users: dict[str, UserCtx]) -> None:
    viewer = users["viewer"]
    sign_in(client, tenant.slug, viewer.email, viewer.password)
    page = client.get("/ui/runs")
    r = client.post("/ui/logout", data={"csrf_token": _nonce(page.text)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert client.get("/ui/runs", follow_redirects=False).status_code == 303


def test_a_post_without_the_csrf_token_is_refused(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    viewer = users["viewer"]
    sign_in(client, tenant.slug, viewer.email, viewer.password)
    assert client.post("/ui/logout", data={}).status_code == 403
    assert client.post("/ui/logout", data={"csrf_token": "0" * 64}).status_code == 403


def test_the_platform_admin_signs_in_with_the_token_and_sees_tenants(
    client: Any, tenant: TenantCtx
) -> None:
    client.cookies.clear()
    page = client.get("/ui/login")
    r = client.post("/ui/login/platform",
                    data={"token": ADMIN_TOKEN, "csrf_token": _nonce(page.text)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = client.get("/ui/platform")
    assert r.status_code == 200
    assert tenant.slug in r.text
    assert client.get("/ui/runs").status_code == 403  # no tenant: no runs


def test_another_tenants_run_is_a_404_page(client: Any, tenant: TenantCtx) -> None:
    from tests.browser.flows import APPROVAL, active_workflow, start_run

    other = create_tenant(client)
    foreign = start_run(client, other.admin_headers,
                        active_workflow(client, other.admin_headers, APPROVAL))  # fmt: skip
    sign_in(client, tenant.slug, tenant.admin.email, tenant.admin.password)
    for path in ("", "/actions", "/steps/approve", "/live"):
        r = client.get(f"/ui/runs/{foreign}{path}", headers={"Accept": "text/html"})
        assert r.status_code == 404, path
    assert 'data-testid="error"' in r.text
    page = client.get("/ui/runs")
    r = client.post(f"/ui/runs/{foreign}/cancel", data={"csrf_token": _nonce(page.text)})
    assert r.status_code == 404
    run = client.get(f"/v1/runs/{foreign}", headers=other.admin_headers).json()
    assert run["status"] == "running"


def test_over_https_the_session_cookie_is_secure(container: Any, tenant: TenantCtx) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(container), base_url="https://testserver") as https:
        r = sign_in(https, tenant.slug, tenant.admin.email, tenant.admin.password)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("platinum_session=")
    assert "Secure" in cookie


def test_a_live_part_whose_session_ended_sends_the_whole_page_to_sign_in(client: Any) -> None:
    client.cookies.clear()
    r = client.get("/ui/runs/rows", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 204
    assert r.headers["hx-redirect"] == "/ui/login"


def test_a_run_pages_live_feed_ends_when_its_session_ends(
    client: Any, tenant: TenantCtx, monkeypatch: Any
) -> None:
    import threading

    from api.console import run_live
    from tests.browser.flows import APPROVAL, active_workflow, start_run

    run_id = start_run(client, tenant.admin_headers,
                       active_workflow(client, tenant.admin_headers, APPROVAL))  # fmt: skip
    signed = sign_in(client, tenant.slug, tenant.admin.email, tenant.admin.password)
    assert signed.status_code == 303
    session = client.cookies.get("platinum_session")
    streaming = threading.Event()
    snapshot = run_live._snapshot

    def reading(*args: Any) -> Any:
        change = snapshot(*args)
        streaming.set()
        return change

    monkeypatch.setattr(run_live, "_snapshot", reading)

    def sign_out_then_approve() -> None:
        streaming.wait(timeout=30)
        bearer = {"Authorization": f"Bearer {session}"}
        assert client.post("/v1/auth/logout", headers=bearer).status_code == 204
        r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=tenant.admin_headers)
        assert r.status_code == 200, r.text

    thread = threading.Thread(target=sign_out_then_approve)
    thread.start()
    with client.stream("GET", f"/ui/runs/{run_id}/live") as r:
        assert r.status_code == 200
        body = r.read().decode()
    thread.join()
    assert "event: state" in body  # what the session could read while it lasted
    assert "Approved" not in body  # nothing after it ended
    assert "event: end" not in body
