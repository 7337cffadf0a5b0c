"""Marketplace and installations over HTTP: publish, review, browse, install, configure."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import PLATFORM_ADMIN_HEADERS, create_tenant
from tests.support.http import MISSING
from tests.support.polling import wait_until

CONFIG_SCHEMA = {
    "type": "object",
    "required": ["api_url"],
    "properties": {"api_url": {"type": "string"}, "retries": {"type": "integer"}},
    "additionalProperties": False,
}


def publish(client, headers, **over):  # type: ignore[no-untyped-def]
    body = {
        "name": f"crm-sync-{uuid.uuid4().hex[:8]}",
        "category": "crm",
        "description": "Synchronise contacts with the CRM",
        "definition": {"config_schema": CONFIG_SCHEMA},
        **over,
    }
    r = client.post("/v1/marketplace/skills", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def approved(client, headers, **over):  # type: ignore[no-untyped-def]
    skill = publish(client, headers, **over)
    r = client.post(f"/v1/marketplace/skills/{skill['id']}/approve", headers=PLATFORM_ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


# -- skills ---------------------------------------------------------------------------------


def test_user_publishes_a_pending_skill(client, users) -> None:
    skill = publish(client, users["user"].headers)
    assert skill["status"] == "pending"
    assert skill["version"] == "1.0.0"
    assert skill["developer_id"] == users["user"].id


def test_publish_validates_every_field(client, users) -> None:
    r = client.post(
        "/v1/marketplace/skills",
        json={"name": "x", "category": "", "definition": {"config_schema": {"type": 5}},
              "version": "one", "price": "-1"},
        headers=users["user"].headers,
    )  # fmt: skip
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/name", "/category", "/version", "/price"} <= pointers
    # what the document says of each field is checked first, all at once; the definition's
    # config schema (no JSON Schema can say "a valid JSON Schema") once the fields pass
    r = client.post(
        "/v1/marketplace/skills",
        json={"name": "xx", "category": "c", "definition": {"config_schema": {"type": 5}}},
        headers=users["user"].headers,
    )
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert any(p.startswith("/definition/config_schema") for p in pointers)
    missing = client.post("/v1/marketplace/skills", json={}, headers=users["user"].headers)
    assert missing.status_code == 422


def test_viewer_cannot_publish_or_browse(client, users) -> None:
    h = users["viewer"].headers
    r = client.post(
        "/v1/marketplace/skills",
        json={"name": "nope", "category": "x", "definition": {}},
        headers=h,
    )
    assert r.status_code == 403
    assert client.get("/v1/marketplace/skills", headers=h).status_code == 403


def test_only_the_platform_admin_reviews(client, users) -> None:
    skill = publish(client, users["user"].headers)
    for role in ("user", "admin"):
        r = client.post(
            f"/v1/marketplace/skills/{skill['id']}/approve", headers=users[role].headers
        )
        assert r.status_code == 403
    r = client.post(
        f"/v1/marketplace/skills/{skill['id']}/reject",
        json={"reason": "needs docs"},
        headers=PLATFORM_ADMIN_HEADERS,
    )
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert r.json()["review_reason"] == "needs docs"
    # a rejected skill cannot be approved directly
    again = client.post(
        f"/v1/marketplace/skills/{skill['id']}/approve", headers=PLATFORM_ADMIN_HEADERS
    )
    assert again.status_code == 409
    assert (
        client.post(
            f"/v1/marketplace/skills/{MISSING}/approve", headers=PLATFORM_ADMIN_HEADERS
        ).status_code
        == 404
    )


def test_browse_shows_approved_skills_by_query_and_category(client, users) -> None:
    tag = uuid.uuid4().hex[:8]
    live = approved(client, users["user"].headers, name=f"mailer-{tag}", category=f"mail{tag}")
    pending = publish(
        client, users["manager"].headers, name=f"pending-{tag}", category=f"mail{tag}"
    )
    other = create_tenant(client)
    h = other.admin_headers  # another tenant browses the same global catalogue
    found = client.get(f"/v1/marketplace/skills?category=mail{tag}", headers=h).json()["items"]
    assert [s["id"] for s in found] == [live["id"]]
    by_q = client.get(f"/v1/marketplace/skills?q=mailer-{tag}", headers=h).json()["items"]
    assert [s["id"] for s in by_q] == [live["id"]]
    # the developer sees their own pending skill; the platform admin filters by status
    mine = client.get(
        f"/v1/marketplace/skills?category=mail{tag}", headers=users["manager"].headers
    ).json()["items"]
    assert {s["id"] for s in mine} == {live["id"], pending["id"]}
    queue = client.get(
        f"/v1/marketplace/skills?status=pending&category=mail{tag}", headers=PLATFORM_ADMIN_HEADERS
    ).json()["items"]
    assert [s["id"] for s in queue] == [pending["id"]]
    assert client.get("/v1/marketplace/skills?status=pending", headers=h).status_code == 403
    assert client.get(f"/v1/marketplace/skills/{pending['id']}", headers=h).status_code == 404


def test_another_tenant_never_sees_the_publishers_user_id(client, tenant, users) -> None:
    live = approved(client, users["user"].headers)
    other = create_tenant(client)
    h = other.admin_headers
    one = client.get(f"/v1/marketplace/skills/{live['id']}", headers=h).json()
    listed = client.get(f"/v1/marketplace/skills?q={live['name']}", headers=h).json()["items"]
    assert one["developer_id"] is None
    assert [s["developer_id"] for s in listed] == [None]
    assert users["user"].id not in str(one) + str(listed)
    # the publisher's own tenant and the platform admin still see it
    mine = client.get(f"/v1/marketplace/skills/{live['id']}", headers=tenant.admin_headers)
    assert mine.json()["developer_id"] == users["user"].id
    admin = client.get(f"/v1/marketplace/skills/{live['id']}", headers=PLATFORM_ADMIN_HEADERS)
    assert admin.json()["developer_id"] == users["user"].id


# -- installations --------------------------------------------------------------------------


def test_admin_installs_configures_disables_and_uninstalls(client, tenant, users) -> None:
    skill = approved(client, users["user"].headers)
    h = tenant.admin_headers
    r = client.post(
        "/v1/installations",
        json={"skill_id": skill["id"], "config": {"api_url": "https://crm.example"}},
        headers=h,
    )
    assert r.status_code == 201, r.text
    inst = r.json()
    assert inst["status"] == "active"
    assert inst["skill_name"] == skill["name"]
    assert inst["id"] in {
        i["id"] for i in client.get("/v1/installations", headers=h).json()["items"]
    }
    # config is validated against the skill's schema
    bad = client.patch(
        f"/v1/installations/{inst['id']}", json={"config": {"retries": "x"}}, headers=h
    )
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} >= {"/config"} or any(
        e["pointer"].startswith("/config") for e in bad.json()["errors"]
    )
    r = client.patch(
        f"/v1/installations/{inst['id']}",
        json={"config": {"api_url": "https://crm2.example", "retries": 2}, "status": "disabled"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disabled"
    assert r.json()["config"]["retries"] == 2
    stale = client.patch(
        f"/v1/installations/{inst['id']}",
        json={"status": "active"},
        headers={**h, "If-Match": f'"{inst["version"]}"'},
    )
    assert stale.status_code == 412
    assert client.delete(f"/v1/installations/{inst['id']}", headers=h).status_code == 204
    assert client.get(f"/v1/installations/{inst['id']}", headers=h).status_code == 404
    assert client.delete(f"/v1/installations/{inst['id']}", headers=h).status_code == 404
    # it may be installed again
    again = client.post(
        "/v1/installations",
        json={"skill_id": skill["id"], "config": {"api_url": "https://crm.example"}},
        headers=h,
    )
    assert again.status_code == 201


def test_install_rejects_bad_config_pending_skills_and_duplicates(client, tenant, users) -> None:
    h = tenant.admin_headers
    skill = approved(client, users["user"].headers)
    bad = client.post(
        "/v1/installations", json={"skill_id": skill["id"], "config": {"nope": 1}}, headers=h
    )
    assert bad.status_code == 422
    assert all(e["pointer"].startswith("/config") for e in bad.json()["errors"])
    pending = publish(client, users["user"].headers)
    assert (
        client.post(
            "/v1/installations",
            json={"skill_id": pending["id"], "config": {"api_url": "u"}},
            headers=h,
        ).status_code
        == 409
    )
    unknown = client.post("/v1/installations", json={"skill_id": MISSING}, headers=h)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/skill_id"
    ok = {"skill_id": skill["id"], "config": {"api_url": "u"}}
    assert client.post("/v1/installations", json=ok, headers=h).status_code == 201
    assert client.post("/v1/installations", json=ok, headers=h).status_code == 409


@pytest.mark.parametrize("role", ["viewer", "user", "manager"])
def test_installations_are_admin_only(client, users, role) -> None:
    h = users[role].headers
    assert client.get("/v1/installations", headers=h).status_code == 403
    assert (
        client.post("/v1/installations", json={"skill_id": MISSING}, headers=h).status_code == 403
    )
    assert client.patch(f"/v1/installations/{MISSING}", json={}, headers=h).status_code == 403
    assert client.delete(f"/v1/installations/{MISSING}", headers=h).status_code == 403


def test_another_tenants_installation_is_a_404(client, tenant, users) -> None:
    skill = approved(client, users["user"].headers)
    inst = client.post(
        "/v1/installations",
        json={"skill_id": skill["id"], "config": {"api_url": "u"}},
        headers=tenant.admin_headers,
    ).json()
    other = create_tenant(client).admin_headers
    for target in (inst["id"], MISSING):
        assert client.get(f"/v1/installations/{target}", headers=other).status_code == 404
        assert (
            client.patch(
                f"/v1/installations/{target}", json={"status": "disabled"}, headers=other
            ).status_code
            == 404
        )
        assert client.delete(f"/v1/installations/{target}", headers=other).status_code == 404
    assert client.get("/v1/installations", headers=other).json()["items"] == []


SECRET_SCHEMA = {
    "type": "object",
    "properties": {"api_key": {"type": "string"}, "dsn": {"type": "string", "secret": True}},
}


def test_installations_never_return_secret_config(client, tenant, users) -> None:
    skill = approved(client, users["user"].headers, definition={"config_schema": SECRET_SCHEMA})
    h = tenant.admin_headers
    config = {"api_key": "sk-live-0123456789", "dsn": "postgres://u:pw@db/x"}
    r = client.post("/v1/installations", json={"skill_id": skill["id"], "config": config},
                    headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    inst = r.json()
    # a secret-like key and a field the schema marks secret are both redacted
    assert inst["config"] == {"api_key": "********", "dsn": "********"}
    listed = client.get("/v1/installations", headers=h).text
    one = client.get(f"/v1/installations/{inst['id']}", headers=h).text
    for text in (listed, one):
        assert "sk-live-0123456789" not in text
        assert "pw@db" not in text
    # sending the redacted value back keeps the secret (it is not overwritten with stars)
    r = client.patch(f"/v1/installations/{inst['id']}",
                     json={"config": {**inst["config"], "dsn": "postgres://u:pw2@db/x"}},
                     headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    platform = client.app.state.container.platform
    stored = platform.get_installation(uuid.UUID(tenant.id), uuid.UUID(inst["id"])).config
    assert stored == {"api_key": "sk-live-0123456789", "dsn": "postgres://u:pw2@db/x"}


def test_installation_reads_are_audited(client, tenant, users) -> None:
    skill = approved(client, users["user"].headers)
    h = tenant.admin_headers
    inst = client.post("/v1/installations",
                       json={"skill_id": skill["id"], "config": {"api_url": "https://x.example"}},
                       headers=h).json()  # fmt: skip
    assert client.get(f"/v1/installations/{inst['id']}", headers=h).status_code == 200
    rows = wait_until(
        lambda: client.get(
            f"/v1/audit/events?action=SensitiveRead.Recorded&resource_id={inst['id']}",
            headers=h,
        ).json()["items"],
        10,
        message="the installation read to be audited",
    )
    assert rows[0]["resource_type"] == "installation"
