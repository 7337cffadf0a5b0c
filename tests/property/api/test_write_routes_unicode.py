"""Property: arbitrary Unicode (NUL, lone surrogates, '²', emoji, ...) and sizes through every
write route (and the filtering query parameters) never answer 500, every refusal is
problem+json, and no projection stalls or parks an event (issue 12, "one input boundary")."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PLATFORM_ADMIN_HEADERS, active_workflow, create_tenant, create_users
from tests.support.http import PROBLEM
from tests.support.polling import wait_until

CHARS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from("\x00\u00b2\u0663\u200b\ufeff\U0001f600\\\"'%&=?#/"),
)
TEXTS = st.one_of(
    st.text(CHARS, max_size=30),
    st.sampled_from(["", "\x00", "\ud800", "²", "ok name", "x" * 300]),
)
SIZED = st.one_of(
    TEXTS,
    st.sampled_from([10_000, 200_000, 1_100_000]).map(lambda n: "é" * (n // 2)),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXTS)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(TEXTS, JSON, max_size=4)


def q(text: str) -> str:
    """Percent-encode anything, lone surrogates included (as the bytes a client would send)."""
    return quote(text, safe="", errors="surrogatepass")


@pytest.fixture(scope="module")
def world(client: Any) -> dict[str, Any]:
    tenant = create_tenant(client)
    users = create_users(client, tenant)
    h = tenant.admin_headers
    definition = {"name": "w", "steps": [{"id": "ok", "uses": "approval",
                                          "with": {"role": "manager"}}]}  # fmt: skip
    wf_id = active_workflow(client, h, definition, name="Prop")
    run = client.post(f"/v1/workflows/{wf_id}/runs", json={"input": {}}, headers=h)
    assert run.status_code == 202, run.text
    skill_body = {"name": "Prop skill", "category": "test", "definition": {}}
    skill = client.post("/v1/marketplace/skills", headers=users["user"].headers, json=skill_body)
    assert skill.status_code == 201, skill.text
    return {"tenant": tenant, "users": users, "wf": wf_id, "run": run.json()["id"],
            "skill": skill.json()["id"]}  # fmt: skip


def _routes(w: dict[str, Any], a: str, b: Any, c: str) -> dict[str, tuple[str, str, Any, str]]:
    """name -> (method, target, JSON body or (content type, raw text), who)."""
    t, u = w["tenant"], w["users"]
    return {
        "create tenant": ("POST", "/v1/tenants", {"name": a, "slug": "p-" + q(a)[:20].lower(),
                          "admin_email": f"{q(a)[:10]}@example.com", "admin_password": c},
                          "platform"),
        "update tenant": ("PATCH", f"/v1/tenants/{t.id}", {"name": a, "config": {a: b}},
                          "platform"),
        "login": ("POST", "/v1/auth/login", {"tenant": a, "email": c, "password": a}, "none"),
        "api key": ("POST", "/v1/api-keys", {"name": a, "role": "user"}, "admin"),
        "create user": ("POST", "/v1/users", {"email": f"x{abs(hash(a))}@example.com",
                        "name": a, "password": c, "role": "user"}, "admin"),
        "update user": ("PATCH", f"/v1/users/{u['user'].id}", {"name": a}, "admin"),
        "config": ("PUT", "/v1/config/colour", {"value": b}, "admin"),
        "preference": ("PUT", "/v1/me/preferences/lang", {"value": b}, "user"),
        "workflow json": ("POST", "/v1/workflows", {"name": a, "definition": b}, "manager"),
        "workflow text": ("POST", "/v1/workflows", {"name": a, "definition": c}, "manager"),
        "workflow yaml": ("POST", f"/v1/workflows?name={q(a)}", ("application/yaml", c),
                          "manager"),
        "validate": ("POST", "/v1/workflows/validate", {"definition": b}, "user"),
        "validate yaml": ("POST", "/v1/workflows/validate", ("application/yaml", c), "user"),
        "definition": ("PUT", f"/v1/workflows/{w['wf']}/definition", {"definition": b},
                       "manager"),
        "start run": ("POST", f"/v1/workflows/{w['wf']}/runs", {"input": b}, "user"),
        "approve": ("POST", f"/v1/runs/{w['run']}/steps/{q(a)}/approve", {"comment": c},
                    "manager"),
        "cancel": ("POST", f"/v1/runs/{w['run']}/cancel", {"reason": a}, "viewer"),
        "skill": ("POST", "/v1/marketplace/skills", {"name": a, "category": c,
                  "description": c, "definition": b}, "user"),
        "install": ("POST", "/v1/installations", {"skill_id": w["skill"], "config": b},
                    "admin"),
        "notification": ("POST", "/v1/notifications", {"recipient_user_id": u["user"].id,
                         "channel": "email", "type": a, "title": a, "message": c}, "admin"),
        "conversation": ("POST", "/v1/conversations", {"session_id": a, "input_text": c,
                         "output_text": a, "context_data": b}, "user"),
        "search skills": ("GET", f"/v1/marketplace/skills?q={q(a)}&category={q(c[:3000])}", None,
                          "user"),
        "audit filter": ("GET", f"/v1/audit/events?action={q(a)}&resource_id={q(c[:3000])}", None,
                         "admin"),
        "history as_of": ("GET", f"/v1/history/tenant/{t.id}?as_of={q(a)}", None, "admin"),
    }  # fmt: skip


_BLANK = type("Blank", (), {"id": ""})
ROUTE_NAMES = sorted(
    _routes({"tenant": _BLANK, "users": {"user": _BLANK}, "wf": "", "run": "", "skill": ""},
            "", None, "")
)  # fmt: skip


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(route=st.sampled_from(ROUTE_NAMES), a=TEXTS, b=st.one_of(OBJECTS, JSON), c=SIZED)
def test_no_write_route_answers_500_to_any_unicode_or_size(
    client: Any, world: dict[str, Any], route: str, a: str, b: Any, c: str
) -> None:
    method, target, body, who = _routes(world, a, b, c)[route]
    headers: dict[str, str] = {}
    if who == "platform":
        headers = dict(PLATFORM_ADMIN_HEADERS)
    elif who == "admin":
        headers = dict(world["tenant"].admin_headers)
    elif who != "none":
        headers = dict(world["users"][who].headers)
    content: bytes | None = None
    if isinstance(body, tuple):
        headers["Content-Type"] = body[0]
        content = body[1].encode("utf-8", "surrogatepass")  # what a client can put on the wire
    elif body is not None:
        headers["Content-Type"] = "application/json"
        content = json.dumps(body).encode()  # ASCII: surrogates as \ud800 escapes
    r = client.request(method, target, content=content, headers=headers)
    assert r.status_code < 500, (route, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), (route, r.text[:200])


def test_no_projection_is_stuck_or_parked_afterwards(client: Any) -> None:
    def behind(checks: dict[str, Any]) -> int:
        return sum(n for apps in checks["projections"].values() for n in apps.values())

    checks = wait_until(
        lambda: client.get("/readyz").json()["checks"],
        10,
        until=lambda checks: behind(checks) == 0,
        message="the projections to catch up",
    )
    assert checks["stuck"] == []
    assert checks["parked"] == []
