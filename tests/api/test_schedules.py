"""Schedules over HTTP: create, list, read, pause/resume, change, delete; bad bodies leave no
event; managers only; another tenant's schedule is a 404."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import psycopg
import pytest

from tests.api.test_runs import QUICK, active_workflow
from tests.factories import pause_active_schedules
from tests.support.http import MISSING, PROBLEM


def event_count(db) -> int:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.owner.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM platform_events").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def workflow(client, tenant) -> str:  # type: ignore[no-untyped-def]
    return active_workflow(client, tenant.admin_headers, QUICK)


def create(client, headers, workflow_id, **body):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/workflows/{workflow_id}/schedules",
        json={"cron": "0 9 * * 1-5", "timezone": "Europe/Paris", **body},
        headers=headers,
    )


def test_a_manager_creates_a_schedule_with_its_next_fire_times(client, users, workflow) -> None:
    r = create(client, users["manager"].headers, workflow, input={"n": 1}, overlap="allow")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == f"/v1/schedules/{body['id']}"
    assert body["status"] == "active"
    assert (body["overlap"], body["catchup"], body["input"]) == ("allow", "none", {"n": 1})
    fires = body["next_fire_times"]
    assert len(fires) == 5
    assert all(f.endswith("Z") for f in fires)
    parsed = [datetime.fromisoformat(f) for f in fires]
    assert parsed == sorted(parsed)
    assert parsed[0] > datetime.now(UTC)
    # 09:00 in Paris is 08:00 or 07:00 UTC, on weekdays only
    assert all(p.hour in (7, 8) and p.minute == 0 and p.weekday() < 5 for p in parsed)
    listed = client.get(f"/v1/workflows/{workflow}/schedules", headers=users["manager"].headers)
    assert listed.status_code == 200
    assert body["id"] in [s["id"] for s in listed.json()["items"]]


def test_six_fields_fire_every_few_seconds(client, users, workflow) -> None:
    r = create(client, users["manager"].headers, workflow, cron="*/5 * * * * *", timezone="UTC")
    assert r.status_code == 201, r.text
    parsed = [datetime.fromisoformat(f) for f in r.json()["next_fire_times"]]
    assert all(p.second % 5 == 0 for p in parsed)
    assert [(b - a).total_seconds() for a, b in pairwise(parsed)] == [5] * 4


def test_pause_and_resume_through_patch(client, users, workflow) -> None:
    headers = users["manager"].headers
    sid = create(client, headers, workflow).json()["id"]
    paused = client.patch(f"/v1/schedules/{sid}", json={"status": "paused"}, headers=headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["next_fire_times"] == []
    resumed = client.patch(f"/v1/schedules/{sid}", json={"status": "active"}, headers=headers)
    assert resumed.json()["status"] == "active"
    assert len(resumed.json()["next_fire_times"]) == 5
    assert resumed.json()["active_since"] > paused.json()["active_since"]


def test_patch_changes_only_what_it_names_and_honours_if_match(client, users, workflow) -> None:
    headers = users["manager"].headers
    created = create(client, headers, workflow, input={"a": 1})
    sid, etag = created.json()["id"], created.headers["ETag"]
    r = client.patch(
        f"/v1/schedules/{sid}", json={"cron": "*/10 * * * *", "catchup": "last"},
        headers={**headers, "If-Match": etag},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["cron"], r.json()["catchup"], r.json()["input"]) == ("*/10 * * * *", "last",
                                                                          {"a": 1})  # fmt: skip
    stale = client.patch(
        f"/v1/schedules/{sid}", json={"overlap": "allow"}, headers={**headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert client.get(f"/v1/schedules/{sid}", headers=headers).json()["overlap"] == "skip"


def test_delete_then_it_is_gone(client, users, workflow) -> None:
    headers = users["manager"].headers
    sid = create(client, headers, workflow).json()["id"]
    assert client.delete(f"/v1/schedules/{sid}", headers=headers).status_code == 204
    assert client.get(f"/v1/schedules/{sid}", headers=headers).status_code == 404
    assert client.delete(f"/v1/schedules/{sid}", headers=headers).status_code == 404
    patched = client.patch(f"/v1/schedules/{sid}", json={"status": "paused"}, headers=headers)
    assert patched.status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"cron": "bad"}, "/cron"),
        ({"cron": "* * * * * * *"}, "/cron"),
        ({"cron": "61 * * * *"}, "/cron"),
        ({"timezone": "Mars/Olympus"}, "/timezone"),
        ({"overlap": "never"}, "/overlap"),
        ({"catchup": "some"}, "/catchup"),
        ({"every": "day"}, "/every"),
        ({"cron": None}, "/cron"),
    ],
)
def test_bad_bodies_are_422_and_leave_no_event(client, users, workflow, db, body, pointer) -> None:
    before = event_count(db)
    r = create(client, users["manager"].headers, workflow, **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert pointer in [e["pointer"] for e in r.json()["errors"]]
    assert event_count(db) == before


def test_bad_patches_are_422_and_leave_no_event(client, users, workflow, db) -> None:
    headers = users["manager"].headers
    sid = create(client, headers, workflow).json()["id"]
    before = event_count(db)
    for body in ({"cron": "nope"}, {"status": "deleted"}, {"timezone": "Nowhere/City"},
                 {"cron": None}, {"colour": "red"}):  # fmt: skip
        r = client.patch(f"/v1/schedules/{sid}", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
    assert event_count(db) == before


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_below_manager_is_403(client, users, workflow, role) -> None:
    headers = users[role].headers
    assert create(client, headers, workflow).status_code == 403
    listed = client.get(f"/v1/workflows/{workflow}/schedules", headers=headers)
    assert listed.status_code == 403


def test_another_tenants_schedule_and_workflow_are_404(
    client, users, workflow, other_tenant
) -> None:
    sid = create(client, users["manager"].headers, workflow).json()["id"]
    theirs = other_tenant.admin_headers
    assert client.get(f"/v1/schedules/{sid}", headers=theirs).status_code == 404
    r = client.patch(f"/v1/schedules/{sid}", json={"status": "paused"}, headers=theirs)
    assert r.status_code == 404
    assert client.delete(f"/v1/schedules/{sid}", headers=theirs).status_code == 404
    assert create(client, theirs, workflow).status_code == 404
    assert client.get(f"/v1/workflows/{workflow}/schedules", headers=theirs).status_code == 404
    assert create(client, users["manager"].headers, MISSING).status_code == 404


@pytest.fixture(scope="module", autouse=True)
def _leave_no_active_schedule(client, tenant, db):  # type: ignore[no-untyped-def]
    """Other modules' servers run tickers on this database: pause what this module made."""
    yield
    pause_active_schedules(client, tenant, db)
