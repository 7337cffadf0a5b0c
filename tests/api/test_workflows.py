"""Workflows over HTTP: drafts, JSON or YAML definitions, versions, lifecycle, validation."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import PLATFORM_ADMIN_HEADERS, create_api_key, create_tenant
from tests.support.http import MISSING, PROBLEM

DEFINITION = {
    "name": "greet",
    "input_schema": {
        "type": "object",
        "required": ["who"],
        "properties": {"who": {"type": "string"}},
    },
    "steps": [
        {"id": "hello", "uses": "transform", "with": {"greeting": "hi ${{ input.who }}"}},
        {"id": "done", "uses": "noop", "needs": ["hello"]},
    ],
}

YAML_DEFINITION = """
name: greet-yaml
steps:
  - id: hello
    uses: noop
  - id: bye
    uses: noop
    needs: [hello]
"""


def create(client, headers, name="Greeter", definition=None):  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/workflows",
        json={"name": name, "definition": definition or DEFINITION},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r


# -- create ---------------------------------------------------------------------------------


def test_manager_creates_a_draft_at_version_1(client, users) -> None:
    r = create(client, users["manager"].headers)
    body = r.json()
    assert body["status"] == "draft"
    assert body["definition_version"] == 1
    assert body["definition"] == DEFINITION
    assert body["created_by"] == users["manager"].id
    assert r.headers["location"] == f"/v1/workflows/{body['id']}"
    assert r.headers["etag"] == f'"{body["version"]}"'


def test_definition_may_be_yaml_text_inside_json(client, users) -> None:
    r = create(client, users["admin"].headers, definition=YAML_DEFINITION)  # type: ignore[arg-type]
    assert r.json()["definition"]["steps"][1]["needs"] == ["hello"]


def test_a_yaml_body_is_the_definition_and_names_the_workflow(client, users) -> None:
    r = client.post(
        "/v1/workflows",
        content=YAML_DEFINITION,
        headers={**users["manager"].headers, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "greet-yaml"
    assert r.json()["definition"]["name"] == "greet-yaml"


def test_invalid_definition_is_a_422_listing_every_problem_with_pointers(client, users) -> None:
    bad = {
        "name": "bad",
        "steps": [
            {"id": "a", "uses": "noop", "needs": ["b"]},
            {"id": "b", "uses": "noop", "needs": ["a"]},
            {"id": "Bad Id", "uses": "nope"},
        ],
    }
    r = client.post(
        "/v1/workflows", json={"name": "Bad", "definition": bad}, headers=users["manager"].headers
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert all(p.startswith("/definition") for p in pointers)
    assert any(p.startswith("/definition/steps/2") for p in pointers)
    assert len(r.json()["errors"]) >= 2


def test_unparsable_yaml_text_is_a_422_at_definition(client, users) -> None:
    r = client.post(
        "/v1/workflows",
        json={"name": "Broken", "definition": "steps: [unclosed"},
        headers=users["manager"].headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/definition"


def test_missing_name_and_unknown_fields_are_422(client, users) -> None:
    r = client.post(
        "/v1/workflows",
        json={"definition": DEFINITION, "colour": "red"},
        headers=users["manager"].headers,
    )
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/name", "/colour"} <= pointers


def test_short_name_is_a_domain_422(client, users) -> None:
    r = client.post(
        "/v1/workflows",
        json={"name": "x", "definition": DEFINITION},
        headers=users["manager"].headers,
    )
    assert r.status_code == 422
    assert any(e["pointer"] == "/name" for e in r.json()["errors"])


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_below_manager_cannot_create(client, users, role) -> None:
    r = client.post(
        "/v1/workflows",
        json={"name": "Nope", "definition": DEFINITION},
        headers=users[role].headers,
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith(PROBLEM)


def test_anonymous_and_platform_admin_cannot_create(client, admin_headers) -> None:
    body = {"name": "Nope", "definition": DEFINITION}
    assert client.post("/v1/workflows", json=body).status_code == 401
    assert client.post("/v1/workflows", json=body, headers=admin_headers).status_code == 403


# -- validate -------------------------------------------------------------------------------


def test_validate_a_valid_definition(client, users) -> None:
    r = client.post(
        "/v1/workflows/validate", json={"definition": DEFINITION}, headers=users["user"].headers
    )
    assert r.status_code == 200
    assert r.json() == {"valid": True, "errors": []}


def test_validate_reports_problems_with_pointers_without_saving(client, users) -> None:
    bad = {"name": "x", "steps": [{"id": "a", "uses": "noop", "needs": ["ghost"]}]}
    r = client.post(
        "/v1/workflows/validate", json={"definition": bad}, headers=users["user"].headers
    )
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False
    assert any(e["pointer"].startswith("/definition/steps/0/needs") for e in body["errors"])


def test_validate_a_yaml_body_points_into_the_document(client, users) -> None:
    r = client.post(
        "/v1/workflows/validate",
        content="name: x\nsteps:\n  - id: a\n    uses: bogus\n",
        headers={**users["user"].headers, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200
    errors = r.json()["errors"]
    assert errors
    assert all(e["pointer"].startswith("/steps/0") for e in errors)


def test_validate_unparsable_text_is_invalid_not_an_error(client, users) -> None:
    r = client.post(
        "/v1/workflows/validate", json={"definition": "{nope"}, headers=users["user"].headers
    )
    assert r.status_code == 200
    assert r.json()["valid"] is False
    assert r.json()["errors"][0]["pointer"] == "/definition"


def test_validate_needs_a_definition(client, users) -> None:
    r = client.post("/v1/workflows/validate", json={}, headers=users["user"].headers)
    assert r.status_code == 422


def test_validate_reports_every_problem_a_save_would_an_uninstalled_skill_included(
    client, tenant, users
) -> None:
    h = users["manager"].headers
    name = f"pdf-{uuid.uuid4().hex[:8]}"
    definition = {"name": "uses-a-skill", "steps": [{"id": "a", "uses": f"skill:{name}"}]}
    expected = [
        {"pointer": "/definition/steps/0/uses", "message": f"no installed active skill '{name}'"}
    ]
    # validate, create and PUT answer the same problems, from the same check
    check = client.post("/v1/workflows/validate", json={"definition": definition}, headers=h)
    assert check.json() == {"valid": False, "errors": expected}
    made = client.post("/v1/workflows", json={"name": "Skilled", "definition": definition},
                       headers=h)  # fmt: skip
    assert made.status_code == 422
    assert made.json()["errors"] == expected
    wf = create(client, h, name="Unskilled")
    put = client.put(f"/v1/workflows/{wf.json()['id']}/definition", json={"definition": definition},
                     headers={**h, "If-Match": wf.headers["etag"]})  # fmt: skip
    assert put.status_code == 422
    assert put.json()["errors"] == expected
    # once the tenant has the skill installed, all three accept it; a range must match
    skill = client.post("/v1/marketplace/skills", json={"name": name, "category": "docs",
                        "description": "PDF", "definition": {}}, headers=h).json()  # fmt: skip
    approved = client.post(
        f"/v1/marketplace/skills/{skill['id']}/approve", headers=PLATFORM_ADMIN_HEADERS
    )
    assert approved.status_code == 200, approved.text
    installed = client.post(
        "/v1/installations", json={"skill_id": skill["id"], "config": {}},
        headers=tenant.admin_headers,
    )  # fmt: skip
    assert installed.status_code == 201, installed.text
    check = client.post("/v1/workflows/validate", json={"definition": definition}, headers=h)
    assert check.json() == {"valid": True, "errors": []}
    made = client.post("/v1/workflows", json={"name": "Skilled", "definition": definition},
                       headers=h)  # fmt: skip
    assert made.status_code == 201, made.text
    definition["steps"][0]["uses"] = f"skill:{name}@^2"
    check = client.post("/v1/workflows/validate", json={"definition": definition}, headers=h)
    wanted = f"no installed active skill '{name}' matching '^2'"
    assert check.json()["errors"] == [{"pointer": "/definition/steps/0/uses", "message": wanted}]
    # npm's ranges (the skill is 1.0.0); one npm would not read is a 422, never a 500
    for wide in ("0.9.0 - 1.x", "^0.9 || ^1", ">=1.0,<2", "1.x"):
        definition["steps"][0]["uses"] = f"skill:{name}@{wide}"
        check = client.post("/v1/workflows/validate", json={"definition": definition}, headers=h)
        assert check.json() == {"valid": True, "errors": []}, wide
    for bad in ("^^1", ">=1.0,!=1.5.0", "1.2.3.4"):
        definition["steps"][0]["uses"] = f"skill:{name}@{bad}"
        made = client.post("/v1/workflows", json={"name": "Ranged", "definition": definition},
                           headers=h)  # fmt: skip
        assert made.status_code == 422, made.text
        [error] = made.json()["errors"]
        assert error["pointer"] == "/definition/steps/0/uses"
        assert error["message"].startswith(f"'{bad}' is not a semver range"), error
    # another tenant has not installed it
    other = create_tenant(client)
    check = client.post("/v1/workflows/validate", json={"definition": {**definition,
                        "steps": [{"id": "a", "uses": f"skill:{name}"}]}},
                        headers=other.admin_headers)  # fmt: skip
    assert check.json()["valid"] is False


def test_expressions_are_type_checked_on_validate_and_save(client, users) -> None:
    h = users["manager"].headers
    definition = {"name": "typed", "steps": [
        {"id": "y", "uses": "noop"},
        {"id": "a", "uses": "noop", "needs": ["y"], "if": "steps.y.status + 1 > 0"},
        {"id": "b", "uses": "noop", "if": "'abc'"},
    ]}  # fmt: skip
    expected = [
        {"pointer": "/definition/steps/1/if", "message": "expression `steps.y.status + 1 > 0` "
         "in step 'a': '+' is not defined for (string, int) (at column 16)"},
        {"pointer": "/definition/steps/2/if",
         "message": "expression `'abc'` in step 'b': must give a bool, but gives string"},
    ]  # fmt: skip
    check = client.post("/v1/workflows/validate", json={"definition": definition}, headers=h)
    assert check.json() == {"valid": False, "errors": expected}
    made = client.post("/v1/workflows", json={"name": "Typed", "definition": definition},
                       headers=h)  # fmt: skip
    assert made.status_code == 422
    assert made.json()["errors"] == expected


def test_viewer_cannot_validate(client, users) -> None:
    r = client.post(
        "/v1/workflows/validate", json={"definition": DEFINITION}, headers=users["viewer"].headers
    )
    assert r.status_code == 403


# -- read -----------------------------------------------------------------------------------


def test_viewer_reads_one_with_its_current_definition(client, users) -> None:
    wf = create(client, users["manager"].headers).json()
    r = client.get(f"/v1/workflows/{wf['id']}", headers=users["viewer"].headers)
    assert r.status_code == 200
    assert r.json()["definition"] == DEFINITION
    assert r.headers["etag"] == f'"{wf["version"]}"'


def test_list_is_paginated_and_filtered_by_status(client) -> None:
    tenant = create_tenant(client)
    ids = [create(client, tenant.admin_headers, name=f"W{i}").json()["id"] for i in range(3)]
    client.post(f"/v1/workflows/{ids[0]}/activate", headers=tenant.admin_headers)
    first = client.get("/v1/workflows?limit=2", headers=tenant.admin_headers).json()
    assert [w["id"] for w in first["items"]] == ids[:2]
    assert first["next_cursor"]
    rest = client.get(
        f"/v1/workflows?limit=2&cursor={first['next_cursor']}", headers=tenant.admin_headers
    ).json()
    assert [w["id"] for w in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None
    active = client.get("/v1/workflows?status=active", headers=tenant.admin_headers).json()
    assert [w["id"] for w in active["items"]] == ids[:1]


def test_list_rejects_unknown_status_and_bad_cursor(client, users) -> None:
    h = users["viewer"].headers
    assert client.get("/v1/workflows?status=weird", headers=h).status_code == 422
    assert client.get("/v1/workflows?cursor=garbage", headers=h).status_code == 422
    assert client.get("/v1/workflows?limit=501", headers=h).status_code == 422


def test_another_tenants_workflow_is_a_404_like_a_missing_one(client, users, other_tenant) -> None:
    wf = create(client, users["manager"].headers).json()
    h = other_tenant.admin_headers
    for path in (f"/v1/workflows/{wf['id']}", f"/v1/workflows/{wf['id']}/versions"):
        foreign, missing = (
            client.get(path, headers=h),
            client.get(path.replace(wf["id"], MISSING), headers=h),
        )
        assert foreign.status_code == missing.status_code == 404
    for action in ("activate", "pause", "archive"):
        r = client.post(f"/v1/workflows/{wf['id']}/{action}", headers=h)
        assert r.status_code == 404
    r = client.put(
        f"/v1/workflows/{wf['id']}/definition",
        json={"definition": DEFINITION},
        headers={**h, "If-Match": '"1"'},
    )
    assert r.status_code == 404
    listed = client.get("/v1/workflows", headers=h).json()["items"]
    assert wf["id"] not in {w["id"] for w in listed}


# -- new definition versions -----------------------------------------------------------------


def test_put_definition_adds_a_version_and_needs_if_match(client, users) -> None:
    h = users["manager"].headers
    wf = create(client, h).json()
    path = f"/v1/workflows/{wf['id']}/definition"
    v2 = {**DEFINITION, "description": "second"}
    # no If-Match: 428
    missing = client.put(path, json={"definition": v2}, headers=h)
    assert missing.status_code == 428
    # current ETag: a new version
    r = client.put(path, json={"definition": v2}, headers={**h, "If-Match": f'"{wf["version"]}"'})
    assert r.status_code == 200, r.text
    assert r.json()["definition_version"] == 2
    assert r.json()["definition"]["description"] == "second"
    # the old ETag is stale now: 412
    stale = client.put(
        path, json={"definition": DEFINITION}, headers={**h, "If-Match": f'"{wf["version"]}"'}
    )
    assert stale.status_code == 412
    versions = client.get(f"/v1/workflows/{wf['id']}/versions", headers=h).json()["items"]
    assert [v["definition_version"] for v in versions] == [1, 2]
    assert versions[0]["definition"] == DEFINITION


def test_put_definition_accepts_yaml_and_rejects_invalid(client, users) -> None:
    h = users["manager"].headers
    wf = create(client, h).json()
    path = f"/v1/workflows/{wf['id']}/definition"
    r = client.put(
        path,
        content=YAML_DEFINITION,
        headers={**h, "If-Match": f'"{wf["version"]}"', "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    bad = client.put(
        path,
        json={"definition": {"steps": "nope"}},
        headers={**h, "If-Match": r.headers["etag"]},
    )
    assert bad.status_code == 422
    assert all(e["pointer"].startswith("/definition") for e in bad.json()["errors"])
    junk = client.put(path, json={"definition": DEFINITION}, headers={**h, "If-Match": "nope"})
    assert junk.status_code == 400  # not an ETag: bad input, not a stale version


def test_user_cannot_change_a_definition(client, users) -> None:
    wf = create(client, users["manager"].headers).json()
    r = client.put(
        f"/v1/workflows/{wf['id']}/definition",
        json={"definition": DEFINITION},
        headers={**users["user"].headers, "If-Match": f'"{wf["version"]}"'},
    )
    assert r.status_code == 403


# -- lifecycle ------------------------------------------------------------------------------


def test_lifecycle_draft_active_paused_active_archived(client, users) -> None:
    h = users["manager"].headers
    wf = create(client, h).json()
    base = f"/v1/workflows/{wf['id']}"
    for action, expected in (
        ("activate", "active"), ("pause", "paused"), ("activate", "active"),
        ("archive", "archived"),
    ):  # fmt: skip
        r = client.post(f"{base}/{action}", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == expected
    # archived is final: 409, and its definition is frozen
    assert client.post(f"{base}/activate", headers=h).status_code == 409
    frozen = client.put(
        f"{base}/definition",
        json={"definition": DEFINITION},
        headers={**h, "If-Match": r.headers["etag"]},
    )
    assert frozen.status_code == 409


def test_pausing_a_draft_is_a_conflict(client, users) -> None:
    wf = create(client, users["manager"].headers).json()
    r = client.post(f"/v1/workflows/{wf['id']}/pause", headers=users["manager"].headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith(PROBLEM)


def test_lifecycle_honours_if_match(client, users) -> None:
    h = users["manager"].headers
    wf = create(client, h).json()
    r = client.post(
        f"/v1/workflows/{wf['id']}/activate", headers={**h, "If-Match": f'"{wf["version"] + 5}"'}
    )
    assert r.status_code == 412


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_below_manager_cannot_change_status(client, users, role) -> None:
    wf = create(client, users["manager"].headers).json()
    r = client.post(f"/v1/workflows/{wf['id']}/activate", headers=users[role].headers)
    assert r.status_code == 403


def test_api_key_with_manager_role_can_author(client, tenant) -> None:
    key = create_api_key(client, tenant, role="manager")
    r = create(client, key.headers, name=f"Key {uuid.uuid4().hex[:4]}")
    assert r.json()["created_by"] is None


# -- schema ---------------------------------------------------------------------------------


def test_the_definition_schema_is_published(client) -> None:
    r = client.get("/v1/schemas/workflow-definition")
    assert r.status_code == 200
    schema = r.json()
    assert schema["$id"] == "/v1/schemas/workflow-definition"
    assert "steps" in schema["properties"]
