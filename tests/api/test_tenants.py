"""The foundation's vertical slice: POST /v1/tenants → events → projection → GET."""

from __future__ import annotations

import psycopg

from tests.conftest import unique_slug
from tests.support.http import MISSING, PROBLEM


def tenant_body(slug: str, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Acme Corp",
        "slug": slug,
        "admin_email": "ada@acme.io",
        "admin_password": "correct horse battery",
    }
    body.update(over)
    return body


def event_count(db) -> int:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.owner.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM platform_events").fetchone()
        assert row is not None
        return int(row[0])


def test_created_tenant_is_read_back_from_the_read_model(client, admin_headers) -> None:
    slug = unique_slug("acme")
    created = client.post("/v1/tenants", json=tenant_body(slug), headers=admin_headers)
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert tenant["slug"] == slug
    assert tenant["status"] == "active"
    assert tenant["admin"]["email"] == "ada@acme.io"
    assert tenant["admin"]["role"] == "admin"

    got = client.get(f"/v1/tenants/{tenant['id']}", headers=admin_headers)
    assert got.status_code == 200
    assert got.json()["name"] == "Acme Corp"
    assert got.headers["etag"] == f'"{got.json()["version"]}"'


def test_bad_slug_is_a_422_problem_and_stores_no_event(client, admin_headers, db) -> None:
    before = event_count(db)
    r = client.post("/v1/tenants", json=tenant_body("Not A Slug!"), headers=admin_headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["type"].endswith("/validation")
    assert any(e["pointer"] == "/slug" for e in body["errors"])
    assert event_count(db) == before


def test_duplicate_slug_is_a_409_problem_and_stores_no_event(client, admin_headers, db) -> None:
    slug = unique_slug("dup")
    assert (
        client.post("/v1/tenants", json=tenant_body(slug), headers=admin_headers).status_code == 201
    )
    before = event_count(db)
    r = client.post("/v1/tenants", json=tenant_body(slug), headers=admin_headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/conflict")
    assert event_count(db) == before


def test_missing_fields_list_every_problem(client, admin_headers, db) -> None:
    before = event_count(db)
    r = client.post("/v1/tenants", json={"name": "x"}, headers=admin_headers)
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/slug", "/admin_email", "/admin_password"} <= pointers
    assert event_count(db) == before


def test_wrong_or_missing_token_is_a_401_problem(client, db) -> None:
    before = event_count(db)
    for headers in ({"Authorization": "Bearer nope"}, {}):
        r = client.post("/v1/tenants", json=tenant_body(unique_slug()), headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["type"].endswith("/unauthorized")
    assert event_count(db) == before


def test_unknown_tenant_is_a_404_problem(client, admin_headers) -> None:
    r = client.get(f"/v1/tenants/{MISSING}", headers=admin_headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert {"readmodel", "audit", "outbox"} <= ready.json()["checks"]["projections"].keys()
    assert ready.json()["checks"]["stuck"] == []


def test_a_stuck_projection_shows_in_readiness_and_metrics(client, db) -> None:
    import psycopg

    with psycopg.connect(db.system.conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_failures (projection, application, notification_id, topic,"
            " error) VALUES ('outbox', 'platform', 42, 't', 'ValueError: boom')"
        )
        try:
            ready = client.get("/readyz")
            assert ready.status_code == 200  # the API still serves; its reads are stale
            (stuck,) = ready.json()["checks"]["stuck"]
            assert (stuck["projection"], stuck["notification_id"]) == ("outbox", 42)
            assert "boom" not in ready.text  # anyone may call /readyz: no error text
            text = client.get("/metrics").text
            gauge = "platinum_projection_failing"
            assert f'{gauge}{{application="platform",projection="outbox"}} 1.0' in text
            assert f'{gauge}{{application="runs",projection="readmodel"}} 0.0' in text
        finally:
            conn.execute("DELETE FROM projection_failures WHERE projection = 'outbox'")


def test_parked_events_show_in_readiness_and_metrics(client, db) -> None:
    import uuid

    import psycopg

    aggregate = uuid.uuid4()
    with psycopg.connect(db.system.conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_parked (projection, application, notification_id,"
            " originator_id, topic, tenant_id, error) VALUES ('outbox', 'platform', 4242, %s,"
            " 't', 'tenant-x', 'DataError: secret value')",
            (aggregate,),
        )
        try:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            (parked,) = ready.json()["checks"]["parked"]
            assert (parked["projection"], parked["events"], parked["tenants"]) == ("outbox", 1, 1)
            assert "secret value" not in ready.text
            assert "tenant-x" not in ready.text
            text = client.get("/metrics").text
            gauge = "platinum_projection_parked"
            assert f'{gauge}{{application="platform",projection="outbox"}} 1.0' in text
            assert f'{gauge}{{application="runs",projection="readmodel"}} 0.0' in text
        finally:
            conn.execute("DELETE FROM projection_parked WHERE projection = 'outbox'")
