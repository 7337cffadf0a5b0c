"""GET /v1/roles: the global roles and their permissions."""

from __future__ import annotations

from domain.identity.permissions import permissions_for_role
from tests.factories import create_api_key, create_tenant, create_user


def test_every_user_lists_the_builtin_roles(client) -> None:
    tenant = create_tenant(client)
    viewer = create_user(client, tenant, "viewer")
    for headers in (viewer.headers, create_api_key(client, tenant, "viewer").headers):
        r = client.get("/v1/roles", headers=headers)
        assert r.status_code == 200, r.text
        roles = {role["name"]: role for role in r.json()["items"]}
        assert {"admin", "manager", "user", "viewer"} <= set(roles)
        for name in ("admin", "manager", "user", "viewer"):
            assert set(roles[name]["permissions"]) == set(permissions_for_role(name))
            assert roles[name]["builtin"] is True


def test_roles_are_paginated(client) -> None:
    tenant = create_tenant(client)
    first = client.get("/v1/roles?limit=1", headers=tenant.admin_headers).json()
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = client.get(
        f"/v1/roles?limit=1&cursor={first['next_cursor']}", headers=tenant.admin_headers
    ).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
