"""Login, logout, /v1/me and when session tokens stop working."""

from __future__ import annotations

import hashlib
import time
import uuid

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import SharedLoginLimiter, throttle_secret
from tests.factories import (
    DEFAULT_PASSWORD,
    PLATFORM_ADMIN_HEADERS,
    create_api_key,
    create_tenant,
    create_user,
    login_response,
)
from tests.support.http import PROBLEM
from tests.support.polling import wait_until


def test_login_returns_a_token_its_expiry_and_the_user(client) -> None:
    tenant = create_tenant(client)
    r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"]
    assert body["expires_at"]
    assert body["user"]["email"] == tenant.admin.email
    assert body["user"]["role"] == "admin"
    assert "password_hash" not in body["user"]


def test_every_login_failure_is_the_same_401(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user")
    # deactivate one user so an inactive account is among the failures
    inactive = create_user(client, tenant, "viewer")
    r = client.patch(
        f"/v1/users/{inactive.id}", json={"status": "inactive"}, headers=tenant.admin_headers
    )
    assert r.status_code == 200, r.text
    attempts = [
        (tenant.slug, user.email, "wrong password!"),
        (tenant.slug, "nobody@example.com", DEFAULT_PASSWORD),
        ("no-such-tenant-xyz", user.email, DEFAULT_PASSWORD),
        (tenant.slug, inactive.email, DEFAULT_PASSWORD),
        (tenant.slug, "not an email", DEFAULT_PASSWORD),
    ]
    bodies = []
    for slug, email, password in attempts:
        r = login_response(client, slug, email, password)
        assert r.status_code == 401, (email, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        body = r.json()
        body.pop("instance", None)
        bodies.append(body)
    assert all(b == bodies[0] for b in bodies)


def test_a_suspended_tenant_cannot_log_in_and_its_sessions_stop(client) -> None:
    tenant = create_tenant(client)
    r = client.patch(
        f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=PLATFORM_ADMIN_HEADERS
    )
    assert r.status_code == 200, r.text
    assert (
        login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD).status_code == 401
    )
    assert client.get("/v1/me", headers=tenant.admin_headers).status_code == 401


def _patch_user(client, tenant, user_id: str, body: dict) -> None:  # type: ignore[no-untyped-def]
    r = client.patch(f"/v1/users/{user_id}", json=body, headers=tenant.admin_headers)
    assert r.status_code == 200, r.text


def test_deactivation_revokes_sessions_and_reactivation_does_not_revive_them(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user")
    assert client.get("/v1/me", headers=user.headers).status_code == 200
    _patch_user(client, tenant, user.id, {"status": "inactive"})
    assert client.get("/v1/me", headers=user.headers).status_code == 401
    _patch_user(client, tenant, user.id, {"status": "active"})
    # the old session stays dead; a new login works
    assert client.get("/v1/me", headers=user.headers).status_code == 401
    fresh = login_response(client, tenant.slug, user.email, DEFAULT_PASSWORD)
    assert fresh.status_code == 200, fresh.text


def test_a_role_change_revokes_the_users_sessions(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "manager")
    _patch_user(client, tenant, user.id, {"role": "viewer"})
    assert client.get("/v1/me", headers=user.headers).status_code == 401


def test_suspension_revokes_sessions_and_reactivation_does_not_revive_them(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "viewer")
    for status in ("suspended", "active"):
        r = client.patch(
            f"/v1/tenants/{tenant.id}", json={"status": status}, headers=PLATFORM_ADMIN_HEADERS
        )
        assert r.status_code == 200, r.text
    assert client.get("/v1/me", headers=tenant.admin_headers).status_code == 401
    assert login_response(client, tenant.slug, tenant.admin.email,
                          DEFAULT_PASSWORD).status_code == 200  # fmt: skip
    # API keys are service credentials: refused while suspended, working again after
    assert client.get("/v1/me", headers=key.headers).status_code == 200


def test_a_failed_login_is_a_security_event_of_the_tenant(client) -> None:
    tenant = create_tenant(client)
    wrong = "wrong password, typed by someone"
    assert login_response(client, tenant.slug, tenant.admin.email, wrong).status_code == 401
    rows = wait_until(
        lambda: client.get("/v1/audit/events?action=SecurityEvent.Recorded",
                           headers=tenant.admin_headers).json()["items"],
        10, message="the failed login's security event",
    )  # fmt: skip
    assert rows[0]["details"]["kind"] == "login_failed"
    assert rows[0]["details"]["user_id"] == tenant.admin.id
    assert wrong not in str(rows)
    assert tenant.admin.email not in str(rows)


def test_login_body_is_validated_with_pointers(client) -> None:
    r = client.post("/v1/auth/login", json={"tenant": "x"})
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/email", "/password"} <= pointers
    r = client.post("/v1/auth/login", json={"tenant": "x", "email": "a", "password": "b", "z": 1})
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {"/z"}


def shared(container, **limits) -> SharedLoginLimiter:  # type: ignore[no-untyped-def]
    """The API's limiter (PostgreSQL), with buckets of this test's own."""
    return SharedLoginLimiter(container.read_pool, namespace=f"{uuid.uuid4()}:",
                              secret=throttle_secret(container.settings), **limits)


def test_failed_logins_are_throttled_per_account_with_retry_after(container) -> None:
    with TestClient(create_app(container)) as client:
        client.app.state.login_limiter = shared(container, per_account=3, per_ip=100)
        tenant = create_tenant(client)
        for _ in range(3):
            r = login_response(client, tenant.slug, tenant.admin.email, "wrong password!")
            assert r.status_code == 401
        # even the right password is refused while the account is throttled
        r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith(PROBLEM)
        assert int(r.headers["retry-after"]) > 0
        # another account from the same address is not affected
        other = create_user(client, tenant, "viewer", log_in=False)
        assert login_response(client, tenant.slug, other.email, DEFAULT_PASSWORD).status_code == 200


def test_spellings_of_one_address_share_the_account_throttle(container) -> None:
    # a full-width letter in the domain is the same account to the lookup, so to the throttle
    with TestClient(create_app(container)) as client:
        client.app.state.login_limiter = shared(container, per_account=3, per_ip=100)
        tenant = create_tenant(client)
        local, domain = tenant.admin.email.split("@")
        wide = chr(ord(domain[0]) - ord("a") + ord("\uff41")) + domain[1:]
        for _ in range(3):
            r = login_response(client, tenant.slug, f"{local}@{wide}", "wrong password!")
            assert r.status_code == 401
        r = login_response(client, tenant.slug, f"{local}@{wide.upper()}", DEFAULT_PASSWORD)
        assert r.status_code == 429
        r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
        assert r.status_code == 429


def test_failed_logins_are_throttled_per_address(container) -> None:
    with TestClient(create_app(container)) as client:
        client.app.state.login_limiter = shared(container, per_account=100, per_ip=4)
        tenant = create_tenant(client)
        for i in range(4):
            r = login_response(client, tenant.slug, f"guess{i}@example.com", "wrong password!")
            assert r.status_code == 401
        r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
        assert r.status_code == 429
        assert "retry-after" in r.headers


def test_the_throttle_is_shared_by_api_processes(container, settings) -> None:
    # two apps = two API processes: failures counted by one are refused by the other
    namespace = f"{uuid.uuid4()}:"
    with TestClient(create_app(container)) as one, TestClient(create_app(container)) as two:
        for c in (one, two):
            c.app.state.login_limiter = SharedLoginLimiter(
                container.read_pool, per_account=2, per_ip=100, namespace=namespace,
                secret=throttle_secret(container.settings))
        tenant = create_tenant(one)
        assert login_response(one, tenant.slug, tenant.admin.email, "wrong!!").status_code == 401
        assert login_response(two, tenant.slug, tenant.admin.email, "wrong!!").status_code == 401
        assert login_response(one, tenant.slug, tenant.admin.email,
                              DEFAULT_PASSWORD).status_code == 429  # fmt: skip
        assert login_response(two, tenant.slug, tenant.admin.email,
                              DEFAULT_PASSWORD).status_code == 429  # fmt: skip
    # the failures are in PostgreSQL under a keyed hash of the account (no email in clear,
    # and no plain SHA-256 of it either)
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT bucket FROM login_failures WHERE bucket LIKE %s",
                            (namespace + "%",)).fetchall()  # fmt: skip
    assert len(rows) == 4
    assert not any(tenant.admin.email in r[0] for r in rows)
    plain = hashlib.sha256(f"{tenant.slug}\x00{tenant.admin.email}".lower().encode()).hexdigest()
    assert not any(plain in r[0] for r in rows)
    assert sum(r[0].startswith(f"{namespace}a:") for r in rows) == 2


def test_the_shared_window_expires_and_a_success_clears_the_account(container) -> None:
    limiter = shared(container, per_account=2, per_ip=100, window_s=1.0)
    key = limiter.account_key("t", "a@b.c")
    assert [limiter.attempt(key, "ip")[0] for _ in range(2)] == [0, 0]  # counted up front
    assert limiter.attempt(key, "ip") == (1, None)  # full: refused, and not counted
    time.sleep(1.05)  # the window is the database's clock: wait it out
    assert limiter.attempt(key, "ip")[0] == 0
    wait, right = limiter.attempt(key, "ip")
    assert wait == 0
    assert right is not None
    limiter.succeeded(key, right)  # the right password: the account's failures go
    assert limiter.attempt(key, "ip")[0] == 0


def test_attempts_sent_at_once_cannot_all_pass_the_check(container) -> None:
    from concurrent.futures import ThreadPoolExecutor

    limiter = shared(container, per_account=3, per_ip=100)
    key = limiter.account_key("t", "burst@b.c")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: limiter.attempt(key, "ip"), range(16)))
    assert sum(attempt is not None for _, attempt in outcomes) == 3
    assert all(wait > 0 for wait, attempt in outcomes if attempt is None)


def test_an_error_on_our_side_does_not_count_as_a_failed_login(container, monkeypatch) -> None:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        client.app.state.login_limiter = shared(container, per_account=1, per_ip=100)
        tenant = create_tenant(client)

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(container.platform, "login", broken)
        r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
        assert r.status_code == 500
        monkeypatch.undo()
        # one failure would fill this account's bucket: the error did not count
        r = login_response(client, tenant.slug, tenant.admin.email, DEFAULT_PASSWORD)
        assert r.status_code == 200, r.text


def test_logout_ends_the_session(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer")
    assert client.get("/v1/me", headers=user.headers).status_code == 200
    r = client.post("/v1/auth/logout", headers=user.headers)
    assert r.status_code == 204
    r = client.get("/v1/me", headers=user.headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)


def test_logout_with_an_api_key_is_forbidden(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "user")
    assert client.post("/v1/auth/logout", headers=key.headers).status_code == 403


def test_a_password_change_ends_older_sessions(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user")
    r = client.patch(
        f"/v1/users/{user.id}",
        json={"password": "a brand new password"},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 200, r.text
    assert client.get("/v1/me", headers=user.headers).status_code == 401
    assert login_response(client, tenant.slug, user.email, DEFAULT_PASSWORD).status_code == 401
    fresh = login_response(client, tenant.slug, user.email, "a brand new password")
    assert fresh.status_code == 200
    assert (
        client.get(
            "/v1/me", headers={"Authorization": f"Bearer {fresh.json()['token']}"}
        ).status_code
        == 200
    )


def test_deactivating_a_user_ends_its_sessions(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user")
    r = client.patch(
        f"/v1/users/{user.id}", json={"status": "inactive"}, headers=tenant.admin_headers
    )
    assert r.status_code == 200
    assert client.get("/v1/me", headers=user.headers).status_code == 401


def test_me_describes_a_user(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "manager")
    r = client.get("/v1/me", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "user"
    assert body["role"] == "manager"
    assert body["user"]["id"] == user.id
    assert body["tenant"]["slug"] == tenant.slug
    assert "users:read" in body["permissions"]
    assert "users:admin" not in body["permissions"]


def test_me_describes_an_api_key(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "viewer")
    body = client.get("/v1/me", headers=key.headers).json()
    assert body["kind"] == "api_key"
    assert body["api_key"]["id"] == key.id
    assert body["user"] is None


def test_me_read_is_recorded_as_a_sensitive_read(client, db) -> None:
    import psycopg

    tenant = create_tenant(client)
    with psycopg.connect(db.owner.conninfo) as conn:
        before = _sensitive_reads(conn)
        assert client.get("/v1/me", headers=tenant.admin_headers).status_code == 200
        assert _sensitive_reads(conn) == before + 1


def _sensitive_reads(conn) -> int:  # type: ignore[no-untyped-def]
    row = conn.execute(
        "SELECT count(*) FROM platform_events WHERE topic LIKE %s", ("%SensitiveRead.Recorded",)
    ).fetchone()
    return int(row[0])


def test_bad_bearer_tokens_are_401(client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


def test_platform_admin_has_no_tenant_and_gets_403_on_tenant_routes(client) -> None:
    assert client.get("/v1/me", headers=PLATFORM_ADMIN_HEADERS).status_code == 403
