"""Users: admins create and change them, managers read them, other tenants never see them."""

from __future__ import annotations

import psycopg

from tests.factories import create_tenant, create_user, create_users, login_response, unique_email
from tests.support.http import MISSING, PROBLEM


def test_admin_creates_a_user_who_can_log_in(client) -> None:
    tenant = create_tenant(client)
    email = unique_email("new")
    r = client.post(
        "/v1/users",
        json={"email": email, "name": "New Person", "password": "long enough pw", "role": "viewer"},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == email
    assert body["role"] == "viewer"
    assert body["status"] == "active"
    assert r.headers["location"] == f"/v1/users/{body['id']}"
    assert r.headers["etag"] == f'"{body["version"]}"'
    assert login_response(client, tenant.slug, email, "long enough pw").status_code == 200


def test_create_user_validation_errors_have_pointers(client) -> None:
    tenant = create_tenant(client)
    cases = [
        ({"name": "x", "password": "long enough pw"}, "/email"),
        ({"email": "not-an-email", "name": "Some One", "password": "long enough pw"}, "/email"),
        ({"email": unique_email(), "name": "Some One", "password": "short"}, "/password"),
        (
            {"email": unique_email(), "name": "Some One", "password": "long enough", "role": "god"},
            "/role",
        ),
        ({"email": unique_email(), "name": "S", "password": "long enough pw"}, "/name"),
        ({"email": unique_email(), "name": "Some One", "password": "long enough", "x": 1}, "/x"),
    ]
    for body, pointer in cases:
        r = client.post("/v1/users", json=body, headers=tenant.admin_headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert pointer in {e["pointer"] for e in r.json()["errors"]}, (body, r.json())


def test_duplicate_email_is_a_conflict(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user", log_in=False)
    r = client.post(
        "/v1/users",
        json={"email": user.email.upper(), "name": "Twin", "password": "long enough pw"},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 409


def test_invited_user_needs_no_password_and_cannot_log_in(client) -> None:
    tenant = create_tenant(client)
    email = unique_email("invitee")
    r = client.post(
        "/v1/users",
        json={"email": email, "name": "Invitee", "status": "invited"},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "invited"


def test_list_users_is_paginated_and_filtered(client) -> None:
    tenant = create_tenant(client)
    for role in ("viewer", "viewer", "user"):
        create_user(client, tenant, role, log_in=False)
    r = client.get("/v1/users?limit=2", headers=tenant.admin_headers)
    assert r.status_code == 200
    first = r.json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    r = client.get(f"/v1/users?limit=2&cursor={first['next_cursor']}", headers=tenant.admin_headers)
    second = r.json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None
    ids = [u["id"] for u in first["items"] + second["items"]]
    assert len(set(ids)) == 4
    viewers = client.get("/v1/users?role=viewer", headers=tenant.admin_headers).json()["items"]
    assert {u["role"] for u in viewers} == {"viewer"}
    assert len(viewers) == 2


def test_list_users_rejects_bad_query_parameters(client) -> None:
    tenant = create_tenant(client)
    for query, pointer in (
        ("limit=0", "#query/limit"),
        ("limit=501", "#query/limit"),
        ("cursor=garbage!!", "#query/cursor"),
        ("status=deleted", "#query/status"),
    ):
        r = client.get(f"/v1/users?{query}", headers=tenant.admin_headers)
        assert r.status_code == 422, query
        assert pointer in {e["pointer"] for e in r.json()["errors"]}, (query, r.json())


def test_manager_reads_users_but_cannot_change_them(client) -> None:
    tenant = create_tenant(client)
    users = create_users(client, tenant)
    manager, viewer = users["manager"], users["viewer"]
    assert client.get(f"/v1/users/{viewer.id}", headers=manager.headers).status_code == 200
    assert client.get("/v1/users", headers=manager.headers).status_code == 200
    r = client.patch(f"/v1/users/{viewer.id}", json={"name": "Renamed"}, headers=manager.headers)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith(PROBLEM)
    for who in ("user", "viewer"):
        assert client.get("/v1/users", headers=users[who].headers).status_code == 403


def test_patch_user_changes_name_and_role_with_if_match(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer", log_in=False)
    got = client.get(f"/v1/users/{user.id}", headers=tenant.admin_headers)
    etag = got.headers["etag"]
    r = client.patch(
        f"/v1/users/{user.id}",
        json={"name": "Promoted Person", "role": "manager"},
        headers={**tenant.admin_headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "manager"
    assert r.json()["name"] == "Promoted Person"
    assert r.headers["etag"] != etag
    # the old ETag is now stale
    stale = client.patch(
        f"/v1/users/{user.id}",
        json={"name": "Again"},
        headers={**tenant.admin_headers, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith(PROBLEM)


def test_the_etag_after_a_role_change_is_the_one_the_next_write_needs(client) -> None:
    # a role change also revokes the user's sessions (a second event): the ETag counts it
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer", log_in=False)
    etag = client.get(f"/v1/users/{user.id}", headers=tenant.admin_headers).headers["etag"]
    promoted = client.patch(
        f"/v1/users/{user.id}",
        json={"role": "manager"},
        headers={**tenant.admin_headers, "If-Match": etag},
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["version"] == int(promoted.headers["etag"].strip('"'))
    deactivated = client.patch(
        f"/v1/users/{user.id}",
        json={"status": "inactive"},
        headers={**tenant.admin_headers, "If-Match": promoted.headers["etag"]},
    )
    assert deactivated.status_code == 200, deactivated.text


def test_patch_user_validation_errors(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer", log_in=False)
    for body, pointer in (
        ({"role": "owner"}, "/role"),
        ({"status": "deleted"}, "/status"),
        ({"name": "x"}, "/name"),
        ({"password": "short"}, "/new_password"),
        ({"email": "a@b.c"}, "/email"),
    ):
        r = client.patch(f"/v1/users/{user.id}", json=body, headers=tenant.admin_headers)
        assert r.status_code == 422, (body, r.text)
        assert pointer in {e["pointer"] for e in r.json()["errors"]}, (body, r.json())


def test_set_user_roles_records_assigned_by(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer")
    roles = client.get("/v1/roles", headers=tenant.admin_headers).json()["items"]
    manager_role = next(r for r in roles if r["name"] == "manager")
    r = client.put(
        f"/v1/users/{user.id}/roles",
        json={"role_ids": [manager_role["id"]]},
        headers=tenant.admin_headers,
    )
    assert r.status_code == 200, r.text
    assigned = r.json()["roles"]
    assert [a["role_id"] for a in assigned] == [manager_role["id"]]
    assert assigned[0]["assigned_by"] == tenant.admin.id
    assert assigned[0]["name"] == "manager"
    # the extra role's permissions apply at once
    assert client.get("/v1/users", headers=user.headers).status_code == 200


def test_set_user_roles_rejects_unknown_roles(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer", log_in=False)
    r = client.put(
        f"/v1/users/{user.id}/roles", json={"role_ids": [MISSING]}, headers=tenant.admin_headers
    )
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {"/role_ids/0"}
    r = client.put(
        f"/v1/users/{user.id}/roles", json={"role_ids": "x"}, headers=tenant.admin_headers
    )
    assert r.status_code == 422
    assert "/role_ids" in {e["pointer"] for e in r.json()["errors"]}


def test_another_tenants_user_is_exactly_a_missing_user(client) -> None:
    mine, theirs = create_tenant(client), create_tenant(client)
    victim = create_user(client, theirs, "user", log_in=False)
    missing = client.get(f"/v1/users/{MISSING}", headers=mine.admin_headers)
    foreign = client.get(f"/v1/users/{victim.id}", headers=mine.admin_headers)
    assert foreign.status_code == missing.status_code == 404
    assert _shape(foreign.json(), victim.id) == _shape(missing.json(), MISSING)
    for method, path, body in (
        ("PATCH", f"/v1/users/{victim.id}", {"name": "Hijacked"}),
        ("PUT", f"/v1/users/{victim.id}/roles", {"role_ids": []}),
    ):
        r = client.request(method, path, json=body, headers=mine.admin_headers)
        assert r.status_code == 404, (method, path, r.text)
    listed = client.get("/v1/users?limit=500", headers=mine.admin_headers).json()["items"]
    assert victim.id not in {u["id"] for u in listed}


def _shape(problem: dict[str, object], rid: str) -> dict[str, object]:
    """A problem with the requested id masked, to compare two 404s."""
    return {k: str(v).replace(rid, "<id>") for k, v in problem.items()}


def test_reading_a_user_is_recorded_as_a_sensitive_read(client, db) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user", log_in=False)
    with psycopg.connect(db.owner.conninfo) as conn:
        before = _count(conn)
        assert client.get(f"/v1/users/{user.id}", headers=tenant.admin_headers).status_code == 200
        assert client.get("/v1/users", headers=tenant.admin_headers).status_code == 200
        assert _count(conn) == before + 2


def _count(conn) -> int:  # type: ignore[no-untyped-def]
    row = conn.execute(
        "SELECT count(*) FROM platform_events WHERE topic LIKE %s", ("%SensitiveRead.Recorded",)
    ).fetchone()
    return int(row[0])
