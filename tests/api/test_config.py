"""Tenant configuration: admins only, secrets never returned."""

from __future__ import annotations

from api.redact import REDACTED
from tests.factories import PLATFORM_ADMIN_HEADERS, create_tenant, create_users


def test_config_round_trip_with_etag(client) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    assert client.get("/v1/config/timezone", headers=h).status_code == 404
    r = client.put("/v1/config/timezone", json={"value": "Europe/Paris"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["value"] == "Europe/Paris"
    got = client.get("/v1/config/timezone", headers=h)
    assert got.json()["value"] == "Europe/Paris"
    etag = got.headers["etag"]
    assert (
        client.put(
            "/v1/config/timezone", json={"value": "UTC"}, headers={**h, "If-Match": etag}
        ).status_code
        == 200
    )
    stale = client.put("/v1/config/timezone", json={"value": "X"}, headers={**h, "If-Match": etag})
    assert stale.status_code == 412
    bad = client.put("/v1/config/timezone", json={"value": 1}, headers={**h, "If-Match": "nope"})
    assert bad.status_code == 400  # not an ETag: bad input, not a stale version


def test_secret_config_values_are_never_returned(client) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    r = client.put("/v1/config/smtp_password", json={"value": "hunter22"}, headers=h)
    assert r.status_code == 200
    assert r.json()["value"] == REDACTED
    assert client.get("/v1/config/smtp_password", headers=h).json()["value"] == REDACTED
    nested = {"host": "smtp.example.com", "api_key": "sk-123", "auth": {"token": "t0k"}}
    r = client.put("/v1/config/mail", json={"value": nested}, headers=h)
    value = client.get("/v1/config/mail", headers=h).json()["value"]
    assert value == {"host": "smtp.example.com", "api_key": REDACTED, "auth": {"token": REDACTED}}
    tenant_view = client.get(f"/v1/tenants/{tenant.id}", headers=PLATFORM_ADMIN_HEADERS).json()
    assert "hunter22" not in str(tenant_view)
    assert "sk-123" not in str(tenant_view)


def test_chat_webhook_urls_are_secrets(client) -> None:
    # A Slack/Discord incoming-webhook URL lets anyone post: it is a credential.
    h = create_tenant(client).admin_headers
    hook = "https://hooks.example.com/services/T000/B000/XXXX"
    r = client.put(
        "/v1/config/notifications.slack", json={"value": {"webhook_url": hook}}, headers=h
    )
    assert r.status_code == 200
    got = client.get("/v1/config/notifications.slack", headers=h).json()["value"]
    assert got == {"webhook_url": REDACTED}


def test_config_validation(client) -> None:
    tenant = create_tenant(client)
    h = tenant.admin_headers
    r = client.put("/v1/config/k", json={}, headers=h)
    assert r.status_code == 422
    assert "/value" in {e["pointer"] for e in r.json()["errors"]}
    r = client.put("/v1/config/bad%20key", json={"value": 1}, headers=h)
    assert r.status_code == 422
    assert "#path/key" in {e["pointer"] for e in r.json()["errors"]}


def test_only_admins_touch_config(client) -> None:
    tenant = create_tenant(client)
    users = create_users(client, tenant)
    for who in ("viewer", "user", "manager"):
        assert client.get("/v1/config/x", headers=users[who].headers).status_code == 403
        r = client.put("/v1/config/x", json={"value": 1}, headers=users[who].headers)
        assert r.status_code == 403


def test_config_is_per_tenant(client) -> None:
    mine, theirs = create_tenant(client), create_tenant(client)
    assert (
        client.put(
            "/v1/config/only-theirs", json={"value": 1}, headers=theirs.admin_headers
        ).status_code
        == 200
    )
    assert client.get("/v1/config/only-theirs", headers=mine.admin_headers).status_code == 404


def test_egress_allow_is_checked_when_set(client) -> None:
    h = create_tenant(client).admin_headers
    for bad in (["not a host!"], "10.0.0.0/99", [7], {"x": 1}):
        r = client.put("/v1/config/egress.allow", json={"value": bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
    assert client.get("/v1/config/egress.allow", headers=h).status_code == 404
    good = ["api.example.com", "*.hooks.example.com", "203.0.113.0/24"]
    r = client.put("/v1/config/egress.allow", json={"value": good}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["value"] == good
