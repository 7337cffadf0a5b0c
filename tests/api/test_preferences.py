"""Own preferences: GET/PUT/DELETE /v1/me/preferences/{key}."""

from __future__ import annotations

from tests.factories import create_api_key, create_tenant, create_user


def test_preference_round_trip(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "viewer")
    url = "/v1/me/preferences/ui.theme"
    assert client.get(url, headers=user.headers).status_code == 404
    r = client.put(url, json={"value": "dark"}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["value"] == "dark"
    etag = r.headers["etag"]
    got = client.get(url, headers=user.headers)
    assert got.json()["value"] == "dark"
    assert got.headers["etag"] == etag
    r = client.put(url, json={"value": "light"}, headers={**user.headers, "If-Match": etag})
    assert r.status_code == 200
    stale = client.put(url, json={"value": "blue"}, headers={**user.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert client.delete(url, headers=user.headers).status_code == 204
    assert client.get(url, headers=user.headers).status_code == 404
    assert client.delete(url, headers=user.headers).status_code == 404
    # a deleted key can be set again
    assert client.put(url, json={"value": "again"}, headers=user.headers).json()["value"] == "again"


def test_preference_validation(client) -> None:
    tenant = create_tenant(client)
    user = create_user(client, tenant, "user")
    r = client.put("/v1/me/preferences/ok", json={}, headers=user.headers)
    assert r.status_code == 422
    assert "/value" in {e["pointer"] for e in r.json()["errors"]}
    r = client.put("/v1/me/preferences/ok", json={"value": 3}, headers=user.headers)
    assert r.status_code == 422
    r = client.put("/v1/me/preferences/bad%20key", json={"value": "x"}, headers=user.headers)
    assert r.status_code == 422
    assert "#path/key" in {e["pointer"] for e in r.json()["errors"]}
    r = client.put("/v1/me/preferences/" + "k" * 101, json={"value": "x"}, headers=user.headers)
    assert r.status_code == 422


def test_preferences_are_private_to_their_user_and_tenant(client) -> None:
    tenant, other_tenant = create_tenant(client), create_tenant(client)
    alice = create_user(client, tenant, "user")
    bob = create_user(client, tenant, "admin")
    mallory = create_user(client, other_tenant, "admin")
    url = "/v1/me/preferences/secret-note"
    assert client.put(url, json={"value": "alice's"}, headers=alice.headers).status_code == 200
    missing = client.get("/v1/me/preferences/never-set", headers=bob.headers)
    for outsider in (bob, mallory):
        r = client.get(url, headers=outsider.headers)
        assert r.status_code == 404
        assert r.json()["detail"].replace("secret-note", "<k>") == missing.json()["detail"].replace(
            "never-set", "<k>"
        )
        assert client.delete(url, headers=outsider.headers).status_code == 404
    assert client.get(url, headers=alice.headers).json()["value"] == "alice's"


def test_api_keys_have_no_preferences(client) -> None:
    tenant = create_tenant(client)
    key = create_api_key(client, tenant, "admin")
    assert client.get("/v1/me/preferences/x", headers=key.headers).status_code == 403
