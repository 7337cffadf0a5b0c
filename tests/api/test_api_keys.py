"""API keys: created by admins, secret shown once, revocable, fenced per tenant."""

from __future__ import annotations

from tests.factories import bearer, create_api_key, create_tenant, create_user, create_users
from tests.support.http import MISSING


def test_api_key_secret_is_shown_once_and_authenticates(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "user")
    assert client.get("/v1/me", headers=key.headers).json()["role"] == "user"
    listed = client.get("/v1/api-keys", headers=tenant.admin_headers).json()
    item = next(k for k in listed["items"] if k["id"] == key.id)
    assert "secret" not in item
    assert item["created_by"] == tenant.admin.id
    assert key.secret not in str(listed)


def test_revoked_api_key_stops_working_and_leaves_the_list(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "viewer")
    assert client.delete(f"/v1/api-keys/{key.id}", headers=tenant.admin_headers).status_code == 204
    assert client.get("/v1/me", headers=key.headers).status_code == 401
    active = client.get("/v1/api-keys", headers=tenant.admin_headers).json()["items"]
    assert key.id not in {k["id"] for k in active}
    every = client.get("/v1/api-keys?include_revoked=true", headers=tenant.admin_headers).json()
    assert next(k for k in every["items"] if k["id"] == key.id)["revoked_at"]


def test_api_key_validation(client) -> None:
    tenant = create_tenant(client)
    for body, pointer in (
        ({"role": "user"}, "/name"),
        ({"name": "k", "role": "root"}, "/role"),
        ({"name": "", "role": "user"}, "/name"),
        ({"name": "k", "extra": True}, "/extra"),
    ):
        r = client.post("/v1/api-keys", json=body, headers=tenant.admin_headers)
        assert r.status_code == 422, (body, r.text)
        assert pointer in {e["pointer"] for e in r.json()["errors"]}, (body, r.json())


def test_only_admins_manage_api_keys(client) -> None:
    tenant = create_tenant(client)
    users = create_users(client, tenant)
    key = create_api_key(client, tenant, "manager")
    for who in ("viewer", "user", "manager"):
        headers = users[who].headers
        assert client.get("/v1/api-keys", headers=headers).status_code == 403
        assert client.post("/v1/api-keys", json={"name": "k"}, headers=headers).status_code == 403
        assert client.delete(f"/v1/api-keys/{key.id}", headers=headers).status_code == 403
    assert client.get("/v1/api-keys", headers=key.headers).status_code == 403


def test_another_tenants_api_key_is_exactly_a_missing_key(client) -> None:
    mine, theirs = create_tenant(client), create_tenant(client)
    victim = create_api_key(client, theirs, "admin")
    missing = client.delete(f"/v1/api-keys/{MISSING}", headers=mine.admin_headers)
    foreign = client.delete(f"/v1/api-keys/{victim.id}", headers=mine.admin_headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(victim.id, "<id>") == missing.json()["detail"].replace(
        MISSING, "<id>"
    )
    # the key still works for its own tenant and is not listed in mine
    assert client.get("/v1/me", headers=victim.headers).status_code == 200
    listed = client.get("/v1/api-keys", headers=mine.admin_headers).json()["items"]
    assert victim.id not in {k["id"] for k in listed}


def _admins_key(client, tenant):  # type: ignore[no-untyped-def]
    """A second admin and an admin API key that admin created."""
    admin2 = create_user(client, tenant, "admin")
    r = client.post("/v1/api-keys", json={"name": "ops", "role": "admin"}, headers=admin2.headers)
    assert r.status_code == 201, r.text
    return admin2, bearer(r.json()["secret"])


def test_an_api_key_never_exceeds_its_creators_current_role(client) -> None:
    tenant = create_tenant(client)
    admin2, key = _admins_key(client, tenant)
    assert client.get("/v1/api-keys", headers=key).status_code == 200
    r = client.patch(f"/v1/users/{admin2.id}", json={"role": "viewer"},
                     headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 200, r.text
    # the key now acts as a viewer: admin-only routes are refused, reads still work
    assert client.get("/v1/api-keys", headers=key).status_code == 403
    assert client.get("/v1/me", headers=key).json()["role"] == "viewer"
    # and a key made by that key answers to the same creator
    r = client.post("/v1/api-keys", json={"name": "x", "role": "admin"}, headers=key)
    assert r.status_code == 403


def test_an_api_key_stops_for_good_when_its_creator_is_deactivated(client) -> None:
    tenant = create_tenant(client)
    admin2, key = _admins_key(client, tenant)
    for status in ("inactive", "active"):
        r = client.patch(f"/v1/users/{admin2.id}", json={"status": status},
                         headers=tenant.admin_headers)  # fmt: skip
        assert r.status_code == 200, r.text
        assert client.get("/v1/me", headers=key).status_code == 401
