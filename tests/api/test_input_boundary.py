"""The input boundary (issue 12, findings 1, 5 and 7, and the stream that never closed):
malformed input is a 4xx problem+json, never a 500, stores no event, and stalls nobody."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import anyio
import pytest

from tests.factories import active_workflow, create_api_key, create_tenant
from tests.support.http import PROBLEM

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
SURROGATE = "\\ud800"  # a lone surrogate, as a JSON escape (it cannot be sent as UTF-8)
DEEP = 10_000
DEFINITION = '{"name": "d", "steps": [{"id": "a", "uses": "noop"}]}'

APPROVAL = {
    "name": "needs-approval",
    "steps": [
        {"id": "approve", "uses": "approval", "with": {"role": "manager"}},
        {"id": "finish", "uses": "noop", "needs": ["approve"]},
    ],
}


@pytest.fixture(scope="module")
def cancelled_run(client, tenant, users) -> str:  # type: ignore[no-untyped-def]
    """A run that has ended (cancelled while it waited for an approval)."""
    h = tenant.admin_headers
    wf = active_workflow(client, h, APPROVAL)
    r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}}, headers=h)
    assert r.status_code == 202, r.text
    run_id: str = r.json()["id"]
    assert client.post(f"/v1/runs/{run_id}/cancel", headers=h).status_code == 200
    return run_id


def _events_total(container: Any) -> int:
    """Every event stored, both applications (a refused request must add none)."""
    return int(container.platform.recorder.max_notification_id() or 0) + int(
        container.runs.recorder.max_notification_id() or 0
    )


def _assert_problem(r: Any, *statuses: int) -> None:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == r.status_code


# -- finding 1: NUL in a workflow name via YAML / ?name= --------------------------------------


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("?name=x%00y", "name: ok\nsteps:\n  - id: a\n    uses: noop\n"),
        ("", 'name: "x\\0y"\nsteps:\n  - id: a\n    uses: noop\n'),
    ],
    ids=["query-name", "yaml-name"],
)
def test_a_nul_in_a_workflow_name_is_refused_and_other_tenants_keep_flowing(
    client, container, tenant, users, query, body
) -> None:  # type: ignore[no-untyped-def]
    before = _events_total(container)
    r = client.post(f"/v1/workflows{query}", content=body, headers={**users["manager"].headers,
                                                                   **YAML})  # fmt: skip
    _assert_problem(r, 422)
    assert _events_total(container) == before
    # another tenant's writes still show up at once (the read model is not stuck)
    other = create_tenant(client)
    key = create_api_key(client, other, role="user")
    listed = client.get("/v1/api-keys", headers=other.admin_headers)
    assert key.id in {k["id"] for k in listed.json()["items"]}


def test_the_domain_refuses_a_nul_workflow_name_whatever_the_path(container, tenant) -> None:  # type: ignore[no-untyped-def]
    from domain.kernel.errors import ValidationError
    from domain.workflows.commands import CreateWorkflow

    with pytest.raises(ValidationError) as e:
        container.platform.create_workflow(
            CreateWorkflow(tenant_id=uuid.UUID(tenant.id), name="x\x00y",
                           definition={"steps": [{"id": "a"}]}, created_by=None)
        )  # fmt: skip
    assert e.value.problems[0][0] == "/name"


# -- finding 5: sixteen malformed inputs that answered 500 ------------------------------------


def _deep_json(depth: int) -> str:
    return '{"name": "deep", "definition": ' + "[" * depth + "]" * depth + "}"


def _deep_yaml(depth: int) -> str:
    return "name: deep\nsteps: " + "[" * depth + "]" * depth + "\n"


MALFORMED: list[tuple[str, str, str, str | None, dict[str, str], str]] = [
    # id, method, path, body, extra headers, who
    ("surrogate-conversation", "POST", "/v1/conversations",
     '{"session_id": "s", "input_text": "a' + SURROGATE + '", "output_text": "b"}', JSON, "user"),
    ("surrogate-workflow-name", "POST", "/v1/workflows",
     '{"name": "w' + SURROGATE + '", "definition": ' + DEFINITION + "}", JSON, "manager"),
    ("surrogate-config-value", "PUT", "/v1/config/colour",
     '{"value": "v' + SURROGATE + '"}', JSON, "admin"),
    ("surrogate-notification", "POST", "/v1/notifications",
     '{"recipient_user_id": "{me}", "channel": "email", "type": "t", "title": "x",'
     ' "message": "m' + SURROGATE + '"}', JSON, "admin"),
    ("deep-json-create", "POST", "/v1/workflows", _deep_json(DEEP), JSON, "manager"),
    ("deep-json-validate", "POST", "/v1/workflows/validate", _deep_json(DEEP), JSON, "user"),
    ("deep-yaml-create", "POST", "/v1/workflows", _deep_yaml(DEEP), YAML, "manager"),
    ("deep-yaml-validate", "POST", "/v1/workflows/validate", _deep_yaml(DEEP), YAML, "user"),
    ("5000-digit-integer", "POST", "/v1/workflows/validate",
     '{"definition": {"steps": [], "n": ' + "9" * 5000 + "}}", JSON, "user"),
    ("nul-q", "GET", "/v1/marketplace/skills?q=a%00b", None, {}, "user"),
    ("nul-category", "GET", "/v1/marketplace/skills?category=a%00b", None, {}, "user"),
    ("nul-action", "GET", "/v1/audit/events?action=a%00b", None, {}, "admin"),
    ("nul-resource-id", "GET", "/v1/audit/events?resource_id=a%00b", None, {}, "admin"),
    ("nul-session-id", "GET", "/v1/conversations?session_id=a%00b", None, {}, "user"),
    ("superscript-if-match", "PUT", "/v1/config/colour", '{"value": "red"}',
     {**JSON, "If-Match": '"\u00b2"'}, "admin"),
    ("superscript-as-of", "GET", "/v1/history/tenant/{tenant}?as_of=%C2%B2", None, {}, "admin"),
    ("superscript-last-event-id", "GET", "/v1/runs/{run}/events/stream", None,
     {"Last-Event-ID": "\u00b2"}, "user"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "extra", "who"),
    [m[1:] for m in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed_input_is_a_4xx_problem_and_stores_nothing(
    client, container, tenant, users, cancelled_run, method, path, body, extra, who
) -> None:  # type: ignore[no-untyped-def]
    me = users[who]
    path = path.replace("{tenant}", tenant.id).replace("{run}", cancelled_run)
    content = None if body is None else body.replace("{me}", me.id).encode("utf-8")
    headers = {**me.headers, **extra}
    before = _events_total(container)
    if any(not v.isascii() for v in extra.values()):
        r = raw_request(client.app, method, path, headers, content or b"")
    else:
        r = client.request(method, path, content=content, headers=headers)
    if "validate" in path and r.status_code == 200:  # validate answers problems in its body
        assert r.json()["valid"] is False
    else:
        _assert_problem(r, 400, 412, 422)
    assert _events_total(container) == before


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    app: Any, method: str, target: str, headers: dict[str, str], body: bytes
) -> RawResponse:
    """One request straight to the ASGI app, header values as latin-1 bytes (a '²' arrives as
    the one byte 0xB2, as from a real client; the test client would send its UTF-8 bytes)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in
                    {"content-length": str(len(body)), **headers}.items()],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        with anyio.move_on_after(10):
            await app(scope, receive, send)

    anyio.run(call)
    start = next(m for m in sent if m["type"] == "http.response.start")
    out_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawResponse(start["status"], out_headers, payload)


# -- finding 7: the request body is bounded ----------------------------------------------------


def test_a_body_over_the_limit_is_413_problem_json_and_stores_nothing(
    client, container, users
) -> None:  # type: ignore[no-untyped-def]
    limit = container.settings.max_body_bytes
    assert limit == 1024 * 1024  # the default
    big = '{"session_id": "s", "input_text": "' + "a" * limit + '", "output_text": "b"}'
    before = _events_total(container)
    r = client.post("/v1/conversations", content=big, headers={**users["user"].headers, **JSON})
    _assert_problem(r, 413)
    assert _events_total(container) == before


@pytest.mark.parametrize("declared", ["1048577", "99999999999999999999999"])
def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    client, users, declared
) -> None:  # type: ignore[no-untyped-def]
    headers = {**users["user"].headers, "content-type": "application/json",
               "content-length": declared}  # fmt: skip
    r = raw_request(client.app, "POST", "/v1/conversations", headers, b"{}")
    _assert_problem(r, 413)


def test_a_streamed_body_without_length_is_cut_at_the_limit(client, container, users) -> None:  # type: ignore[no-untyped-def]
    limit = container.settings.max_body_bytes

    def chunks() -> Any:
        yield b'{"session_id": "s", "input_text": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'", "output_text": "b"}'

    before = _events_total(container)
    r = client.post("/v1/conversations", content=chunks(),
                    headers={**users["user"].headers, **JSON})  # fmt: skip
    _assert_problem(r, 413)
    assert _events_total(container) == before


def test_the_body_limit_is_a_setting(container) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app

    small = container.settings.model_copy(update={"max_body_bytes": 2048})
    original = container.settings
    container.settings = small
    try:
        with TestClient(create_app(container)) as c:
            r = c.post("/v1/workflows/validate", content="{" + " " * 4096 + "}", headers=JSON)
        _assert_problem(r, 413)
    finally:
        container.settings = original


def test_a_body_under_the_limit_still_works(client, users) -> None:  # type: ignore[no-untyped-def]
    text = "é" * 50_000  # well under 1 MiB in UTF-8
    r = client.post(
        "/v1/conversations",
        json={"session_id": "s", "input_text": text, "output_text": "b"},
        headers=users["user"].headers,
    )
    assert r.status_code == 201, r.text[:300]
    assert r.json()["input_text"] == text


# -- low: the event stream resumed past a finished run's end closes -----------------------------


def test_the_stream_after_a_finished_runs_last_event_closes(client, users, cancelled_run) -> None:  # type: ignore[no-untyped-def]
    outcome: dict[str, Any] = {}

    def read() -> None:
        with client.stream("GET", f"/v1/runs/{cancelled_run}/events/stream?after=999",
                           headers=users["viewer"].headers) as r:  # fmt: skip
            outcome["status"] = r.status_code
            outcome["body"] = r.read().decode()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the stream did not close"
    assert outcome["status"] == 200
    assert "id:" not in outcome["body"]  # nothing after the last event


def test_a_json_body_without_a_content_type_passes_the_same_checks(client, users) -> None:  # type: ignore[no-untyped-def]
    body = '{"session_id": "s", "input_text": "a' + SURROGATE + '", "output_text": "b"}'
    headers = {k: v for k, v in users["user"].headers.items() if k.lower() != "content-type"}
    r = client.post("/v1/conversations", content=body.encode(), headers=headers)
    _assert_problem(r, 422)
