"""Test factories that go through the HTTP API, like a real client would.

Stable signatures (both API test suites use them)::

    tenant = create_tenant(client)                      # -> TenantCtx (admin logged in)
    headers = login(client, tenant.slug, email, password)   # -> {"Authorization": ...}
    user = create_user(client, tenant, role="manager")  # -> UserCtx (logged in)
    users = create_users(client, tenant)                # -> {"viewer": UserCtx, ..., "admin": ...}
    key = create_api_key(client, tenant, role="user")   # -> ApiKeyCtx
    wf_id = active_workflow(client, headers, definition)  # -> str (created and activated)
    bearer(token)                                       # -> {"Authorization": f"Bearer {token}"}

Every factory asserts the expected status, so a failing setup names the step that broke.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import ADMIN_TOKEN, unique_slug

DEFAULT_PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "user", "manager", "admin")

PLATFORM_ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class UserCtx:
    id: str
    email: str
    password: str
    role: str
    name: str
    token: str
    headers: dict[str, str] = field(repr=False)
    tenant_id: str = ""
    tenant_slug: str = ""


@dataclass
class TenantCtx:
    id: str
    slug: str
    name: str
    admin: UserCtx

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.admin.headers


@dataclass
class ApiKeyCtx:
    id: str
    name: str
    role: str
    secret: str
    headers: dict[str, str] = field(repr=False)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def login_response(client: Any, tenant_slug: str, email: str, password: str) -> Any:
    return client.post(
        "/v1/auth/login", json={"tenant": tenant_slug, "email": email, "password": password}
    )


def login(
    client: Any, tenant_slug: str, email: str, password: str = DEFAULT_PASSWORD
) -> dict[str, str]:
    """Log in and return the Authorization headers of the new session."""
    r = login_response(client, tenant_slug, email, password)
    assert r.status_code == 200, f"login {email}@{tenant_slug}: {r.status_code} {r.text}"
    return bearer(r.json()["token"])


def create_tenant(
    client: Any,
    *,
    slug: str | None = None,
    name: str = "Acme Corp",
    admin_email: str | None = None,
    admin_password: str = DEFAULT_PASSWORD,
    admin_name: str = "Ada Admin",
    platform_headers: dict[str, str] | None = None,
) -> TenantCtx:
    """Create a tenant (as the platform admin) and log its first admin in."""
    slug = slug or unique_slug("t")
    admin_email = admin_email or unique_email("admin")
    r = client.post(
        "/v1/tenants",
        json={
            "name": name,
            "slug": slug,
            "admin_email": admin_email,
            "admin_password": admin_password,
            "admin_name": admin_name,
        },
        headers=platform_headers or PLATFORM_ADMIN_HEADERS,
    )
    assert r.status_code == 201, f"create tenant {slug}: {r.status_code} {r.text}"
    body = r.json()
    token = login(client, slug, admin_email, admin_password)["Authorization"].split(" ", 1)[1]
    admin = UserCtx(
        id=body["admin"]["id"],
        email=admin_email,
        password=admin_password,
        role="admin",
        name=admin_name,
        token=token,
        headers=bearer(token),
        tenant_id=body["id"],
        tenant_slug=slug,
    )
    return TenantCtx(id=body["id"], slug=slug, name=name, admin=admin)


def create_user(
    client: Any,
    tenant: TenantCtx,
    role: str = "user",
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str | None = None,
    log_in: bool = True,
) -> UserCtx:
    """Create an active user through ``POST /v1/users`` (as the tenant admin) and log it in."""
    email = email or unique_email(role)
    name = name or f"{role.title()} Person"
    r = client.post(
        "/v1/users",
        json={"email": email, "name": name, "password": password, "role": role},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 201, f"create {role} user: {r.status_code} {r.text}"
    headers = login(client, tenant.slug, email, password) if log_in else {}
    token = headers.get("Authorization", " ").split(" ", 1)[1] if headers else ""
    return UserCtx(
        id=r.json()["id"],
        email=email,
        password=password,
        role=role,
        name=name,
        token=token,
        headers=headers,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
    )


def create_users(client: Any, tenant: TenantCtx) -> dict[str, UserCtx]:
    """One logged-in user per built-in role; ``"admin"`` is the tenant's first admin."""
    users = {role: create_user(client, tenant, role) for role in ROLES if role != "admin"}
    users["admin"] = tenant.admin
    return users


def create_api_key(
    client: Any, tenant: TenantCtx, role: str = "user", *, name: str | None = None
) -> ApiKeyCtx:
    """Create an API key through ``POST /v1/api-keys`` (as the tenant admin)."""
    name = name or f"{role}-key-{uuid.uuid4().hex[:6]}"
    r = client.post("/v1/api-keys", json={"name": name, "role": role}, headers=tenant.admin_headers)
    assert r.status_code == 201, f"create api key: {r.status_code} {r.text}"
    body = r.json()
    return ApiKeyCtx(
        id=body["id"], name=name, role=role, secret=body["secret"], headers=bearer(body["secret"])
    )


def active_workflow(
    client: Any, headers: dict[str, str], definition: dict[str, Any], *, name: str | None = None
) -> str:
    """Create a workflow through ``POST /v1/workflows``, activate it, and return its id."""
    name = name or f"WF {uuid.uuid4().hex[:6]}"
    r = client.post("/v1/workflows", json={"name": name, "definition": definition}, headers=headers)
    assert r.status_code == 201, f"create workflow {name}: {r.status_code} {r.text}"
    wf_id: str = r.json()["id"]
    r = client.post(f"/v1/workflows/{wf_id}/activate", headers=headers)
    assert r.status_code == 200, f"activate workflow {name}: {r.status_code} {r.text}"
    return wf_id


def pause_active_schedules(client: Any, tenant: Any, db: Any) -> None:
    """Pause the tenant's active schedules: other modules' servers run tickers on this database."""
    import psycopg

    with psycopg.connect(db.owner.conninfo) as conn:
        ids = conn.execute(
            "SELECT id::text FROM schedules WHERE tenant_id = %s AND status = 'active'",
            (tenant.id,),
        ).fetchall()
    for (sid,) in ids:
        client.patch(f"/v1/schedules/{sid}", json={"status": "paused"},
                     headers=tenant.admin_headers)  # fmt: skip
