"""What the live contract run (``make contract``, bench/contract.py) found, kept from coming back:
the OpenAPI document says what the code enforces, a request it calls valid is not refused as
invalid, and bad input is a 4xx problem that stores nothing, before any precondition."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from projections.queries.paging import CURSOR_PATTERN, decode_cursor, encode_cursor
from tests.factories import active_workflow, create_tenant
from tests.support.http import PROBLEM

NOOP = {"name": "noop", "steps": [{"id": "a", "uses": "noop"}]}
BAD_ETAGS = ["", "x", "*", '"1", "2"', "1.5", "W/x", "-1"]


def _events_total(container: Any) -> int:
    return int(container.platform.recorder.max_notification_id() or 0) + int(
        container.runs.recorder.max_notification_id() or 0
    )


def _parameter(doc: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    for parameter in doc["paths"][path][method]["parameters"]:
        if parameter["name"].lower() == name:
            return dict(parameter)
    raise AssertionError(f"{method} {path} has no parameter {name}")


# -- cursors: a documented form, and every string of that form is a position -------------------


def test_the_document_gives_the_cursor_its_form(client) -> None:
    doc = client.get("/openapi.json").json()
    listed = [p for p, item in doc["paths"].items() for m in item.values()
              if any(q["name"] == "cursor" for q in m.get("parameters", []))]  # fmt: skip
    assert len(listed) > 10
    for path in listed:
        assert _parameter(doc, path, "get", "cursor")["schema"]["pattern"] == CURSOR_PATTERN


@pytest.mark.parametrize("seed", range(20))
def test_any_string_of_the_cursor_form_is_a_position(seed: int) -> None:
    raw = uuid.UUID(int=seed * 7919).bytes + uuid.UUID(int=seed).bytes[:8]
    cursor = base64.urlsafe_b64encode(raw).decode()
    assert re.fullmatch(CURSOR_PATTERN.strip("^$"), cursor)
    at, row_id = decode_cursor(cursor)
    assert at.tzinfo is not None
    assert uuid.UUID(row_id)
    for extreme in ("_" * 32, "A" * 32, "f" * 32, "-" * 32):
        decode_cursor(extreme)  # beyond what datetime holds: clamped, not refused


def test_cursors_round_trip_to_the_microsecond() -> None:
    rid = uuid.uuid4()
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    for at in (
        datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        last,
    ):
        cursor = encode_cursor(at, rid)
        assert len(cursor) == 32
        assert decode_cursor(cursor) == (at, str(rid))


def test_a_made_up_cursor_of_the_form_is_a_page_and_another_is_a_422(client, users) -> None:
    h = users["viewer"].headers
    made_up = base64.urlsafe_b64encode(bytes(range(24))).decode()
    for path in ("/v1/workflows", "/v1/runs", "/v1/roles"):
        r = client.get(f"{path}?cursor={made_up}", headers=h)
        assert r.status_code == 200, (path, r.text)
        r = client.get(f"{path}?cursor=%2F%C2%94", headers=h)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["errors"][0]["pointer"] == "#query/cursor"


# -- If-Match: a malformed one is a 400, on every write, before anything else is looked at ------


@pytest.fixture(scope="module")
def targets(client, tenant, users) -> dict[str, str]:  # type: ignore[no-untyped-def]
    h = tenant.admin_headers
    wf = active_workflow(client, h, NOOP)
    run = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}}, headers=h)
    assert run.status_code == 202, run.text
    return {"workflow": wf, "run": run.json()["id"], "user": users["viewer"].id}


WRITES = [
    ("PUT", "/v1/workflows/{workflow}/definition", {"definition": NOOP}),
    ("POST", "/v1/workflows/{workflow}/pause", None),
    ("POST", "/v1/runs/{run}/cancel", None),
    ("PATCH", "/v1/users/{user}", {"name": "Vic"}),
    ("PUT", "/v1/users/{user}/roles", {"role_ids": []}),
    ("PUT", "/v1/config/colour", {"value": "red"}),
    ("PUT", "/v1/me/preferences/theme", {"value": "dark"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_malformed_if_match_is_a_400_that_stores_nothing(
    client, container, tenant, targets, method, path, body
) -> None:  # type: ignore[no-untyped-def]
    url = path.format(**targets)
    before = _events_total(container)
    for bad in BAD_ETAGS:
        headers = {**tenant.admin_headers, "If-Match": bad}
        r = client.request(method, url, json=body, headers=headers)
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["errors"] == [{"pointer": "#header/if-match", "message": "not an ETag"}]
    assert _events_total(container) == before


def test_a_malformed_if_match_is_a_400_even_where_the_resource_is_missing(client, tenant) -> None:
    missing = uuid.uuid4()
    r = client.post(f"/v1/runs/{missing}/cancel", headers={**tenant.admin_headers, "If-Match": "x"})
    assert r.status_code == 400, r.text


def test_a_malformed_if_match_on_a_tenant_is_a_400(client) -> None:
    from tests.factories import PLATFORM_ADMIN_HEADERS

    made = create_tenant(client)
    r = client.patch(f"/v1/tenants/{made.id}", json={"name": "Renamed"},
                     headers={**PLATFORM_ADMIN_HEADERS, "If-Match": "x"})  # fmt: skip
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("good", ['"1"', 'W/"1"', "1", ' "1" ', '\t"1"'])
def test_every_if_match_of_the_documented_form_is_read_as_a_version(client, good: str) -> None:
    from api.deps import ETAG_PATTERN, expected_version

    assert re.fullmatch(ETAG_PATTERN.strip("^$"), good)
    assert expected_version(good) == 1
    doc = client.get("/openapi.json").json()
    schema = _parameter(doc, "/v1/runs/{run_id}/cancel", "post", "if-match")["schema"]
    assert schema["pattern"] == ETAG_PATTERN


def test_if_match_is_required_in_the_document_where_its_absence_is_a_428(client) -> None:
    doc = client.get("/openapi.json").json()
    put = _parameter(doc, "/v1/workflows/{workflow_id}/definition", "put", "if-match")
    assert put["required"] is True
    cancel = _parameter(doc, "/v1/runs/{run_id}/cancel", "post", "if-match")
    assert cancel.get("required") is not True


# -- the event stream's Last-Event-ID, a rerun's from_step ---------------------------------------


def test_last_event_id_has_its_form_in_the_document_and_bad_input_comes_before_a_404(
    client, users
) -> None:
    doc = client.get("/openapi.json").json()
    from api.routes.run_events import LAST_EVENT_ID

    header = _parameter(doc, "/v1/runs/{run_id}/events/stream", "get", "last-event-id")
    assert header["schema"]["pattern"] == f"^{LAST_EVENT_ID}$"
    for bad in ("-l", "_'", "1e3", "0x1", "9" * 19):
        assert not re.fullmatch(LAST_EVENT_ID, bad)
        r = client.get(f"/v1/runs/{uuid.uuid4()}/events/stream",
                       headers={**users["viewer"].headers, "Last-Event-ID": bad})  # fmt: skip
        assert r.status_code == 422, (bad, r.status_code, r.text)
        assert r.json()["errors"][0]["pointer"] == "#header/last-event-id"


def test_a_rerun_step_id_has_the_definitions_form(client) -> None:
    doc = client.get("/openapi.json").json()
    from engine.definition.dsl import STEP_ID_PATTERN

    from_step = doc["components"]["schemas"]["RunRerun"]["properties"]["from_step"]
    branches = from_step.get("anyOf", [from_step])
    assert any(b.get("pattern") == STEP_ID_PATTERN for b in branches)


# -- a value is taken as the document types it, and checked before any precondition --------------


def test_a_time_parameter_takes_rfc_3339_only(client, tenant) -> None:
    h = tenant.admin_headers
    for bad in ("0.5", "1700000000", "2024-01-01", "2024-01-01T00:00:00", "2024-02-30T00:00:00Z"):
        r = client.get("/v1/audit/events", params={"until": bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["pointer"] == "#query/until"
    for good in (
        "2024-01-01T00:00:00Z",
        "2024-01-01t00:00:00.123456789+05:30",
        "2016-12-31T23:59:60Z",
    ):
        r = client.get("/v1/audit/events", params={"since": good}, headers=h)
        assert r.status_code == 200, (good, r.text)


def test_a_body_value_is_not_coerced_from_another_json_type(client, container, users) -> None:
    h = users["user"].headers
    before = _events_total(container)
    skill = {"name": "Coerced", "category": "tools", "definition": {}}
    for field, value in (("is_public", 0), ("is_public", "true"), ("version", 1)):
        r = client.post("/v1/marketplace/skills", json={**skill, field: value}, headers=h)
        assert r.status_code == 422, (field, value, r.text)
        assert r.json()["errors"][0]["pointer"] == f"/{field}", r.json()
    assert _events_total(container) == before


def test_a_name_too_short_is_a_422_before_a_stale_if_match(
    client, container, tenant, users
) -> None:
    viewer = users["viewer"].id
    before = _events_total(container)
    for name in ("\u00d0", " x ", "\x1cx\x1f"):
        # with a new password the route checks If-Match first, before the domain sees the name
        body = {"name": name, "password": "correct horse battery staple 2"}
        r = client.patch(f"/v1/users/{viewer}", json=body,
                         headers={**tenant.admin_headers, "If-Match": '"0"'})  # fmt: skip
        assert r.status_code == 422, (name, r.status_code, r.text)
        assert r.json()["errors"][0]["pointer"] == "/name"
    assert _events_total(container) == before


def test_the_trimmed_text_pattern_trims_what_the_domain_trims() -> None:
    from api.schemas import SPACE, trimmed_text
    from domain.kernel.errors import ValidationError
    from domain.kernel.validators import text

    pattern = re.compile(trimmed_text(2, 255)["pattern"])
    assert all(c.isspace() == bool(re.fullmatch(SPACE, c)) for c in map(chr, range(0x3100)))
    for value in ("ab", " ab ", "\x1cab\x85", "\ufeffa", "a\x1c", "\u3000x\u3000", "a  b"):
        try:
            text(value, "/name", min_len=2, max_len=255)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(pattern.search(value)), repr(value)


def test_validate_documents_that_it_checks_any_definition(client, users) -> None:
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/workflows/validate"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/DefinitionCheck"}
    definition = {"name": {}, "steps": [{"id": "a", "uses": "noop"}]}
    r = client.post("/v1/workflows/validate", json={"definition": definition},
                    headers=users["user"].headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is False


# -- a definition is taken as its published schema types it, and judged before the workflow ------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("continue_on_error", 0),
        ("continue_on_error", "true"),
        ("timeout_s", True),
        ("timeout_s", "30"),
    ],
)
def test_a_definition_value_of_another_json_type_is_refused(
    client, container, tenant, field, value
) -> None:
    step = {"id": "a", "uses": "noop", field: value}
    definition = {"name": "typed", "steps": [step]}
    before = _events_total(container)
    r = client.post("/v1/workflows", json={"name": "typed", "definition": definition},
                    headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 422, (field, value, r.text)
    assert f"/definition/steps/0/{field}" in {e["pointer"] for e in r.json()["errors"]}
    assert _events_total(container) == before
    checked = client.post("/v1/workflows/validate", json={"definition": definition},
                          headers=tenant.admin_headers)  # fmt: skip
    assert checked.json()["valid"] is False


def test_a_bad_definition_is_a_422_before_a_stale_if_match_or_a_missing_workflow(
    client, container, tenant, targets
) -> None:
    h = {**tenant.admin_headers, "Content-Type": "application/yaml", "If-Match": '"0"'}
    before = _events_total(container)
    for workflow in (targets["workflow"], str(uuid.uuid4())):
        r = client.put(f"/v1/workflows/{workflow}/definition", content=b"- null\n- null\n",
                       headers=h)  # fmt: skip
        assert r.status_code == 422, (workflow, r.status_code, r.text)
    assert _events_total(container) == before


def test_a_whole_number_out_of_64_bits_is_refused_however_it_is_written(
    client, container, users
) -> None:
    h = {**users["user"].headers, "Content-Type": "application/json"}
    before = _events_total(container)
    for number in ("1e300", "-1.7976931348623157e+308", "9223372036854775808.0"):
        body = '{"definition": {"name": "n", "steps": [], "k": ' + number + "}}"
        r = client.post("/v1/workflows/validate", content=body, headers=h)
        assert r.status_code == 422, (number, r.text)
        assert r.json()["errors"][0]["pointer"] == "/definition/k"
    for number in ("1.5e-300", "2848925703052145.0", "0.5"):  # a fraction, or a whole in range
        body = '{"definition": {"name": "n", "steps": [], "k": ' + number + "}}"
        assert client.post("/v1/workflows/validate", content=body, headers=h).status_code == 200
    assert _events_total(container) == before


def test_every_open_object_of_the_document_says_its_keys_hold_no_nul(client) -> None:
    """The input boundary refuses NUL in keys too: an object that takes keys it does not name
    says so (``propertyNames``), or a key with NUL is schema-valid and refused."""
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    open_objects: list[str] = []
    seen: set[str] = set()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref not in seen:
                seen.add(ref)
                walk(schemas[ref.rsplit("/", 1)[1]], ref)
            extra = node.get("additionalProperties", node.get("type") == "object")
            if node.get("type") == "object" and extra is not False and not node.get("properties"):
                open_objects.append(where)
                assert node.get("propertyNames", {}).get("pattern") == "^[^\\x00]*$", where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    for path, item in doc["paths"].items():
        for method, operation in item.items():
            walk(operation.get("requestBody", {}), f"{method} {path}")
            walk(operation.get("parameters", []), f"{method} {path}")
    assert "#/components/schemas/DefinitionCheck" in seen
    assert len(open_objects) >= 3


def test_a_strict_model_checks_a_field_by_its_alias_too() -> None:
    from pydantic import Field
    from pydantic import ValidationError as PydanticError

    from api.schemas import Strict

    class Aliased(Strict):
        if_: bool = Field(default=False, alias="if")
        count: int = 1

    assert Aliased.model_validate({"if": True, "count": 2}).if_ is True
    for bad in ({"if": 0}, {"count": "2"}, {"count": True}):
        with pytest.raises(PydanticError):
            Aliased.model_validate(bad)


def test_a_refused_value_is_not_echoed(client, tenant) -> None:
    for body in (
        {"email": "pw@example.com", "name": "Pat", "password": "hunter2-x"},
        {"email": "pw@example.com", "name": "Pat", "password": 123456789012},
    ):
        r = client.post("/v1/users", json=body, headers=tenant.admin_headers)
        assert r.status_code == 422, r.text
        assert "/password" in {e["pointer"] for e in r.json()["errors"]}
        assert str(body["password"]) not in r.text
