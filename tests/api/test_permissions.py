"""Every route of the app by every kind of caller: 401, 403 or let through, per the matrix.

The matrix is read from the routes' own ``require(...)`` dependencies (``api.permission_matrix``)
and must equal the table in ``docs/api.md``; "let through" means any status but 401/403/5xx
(requests carry empty bodies and unknown ids, so 404/422/428 are the usual answers).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.auth import PLATFORM_ADMIN
from api.permission_matrix import PUBLIC, SIGNATURE, RouteRule, markdown_table, route_rules
from domain.identity.permissions import PERMISSIONS, permissions_for_role, role_rank
from tests.factories import (
    PLATFORM_ADMIN_HEADERS,
    create_api_key,
    create_tenant,
    create_users,
    login,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
API_KEY_ROLE = "user"
CALLERS = ("anonymous", "platform_admin", "viewer", "user", "manager", "admin", "api_key")


def _allowed(rule: RouteRule, caller: str) -> bool | None:
    """True: let through; False: 403; None: 401."""
    if rule.permission == PUBLIC:
        return True
    if rule.permission == SIGNATURE:
        return None  # no caller here signs the request
    if caller == "anonymous":
        return None
    if rule.permission == PLATFORM_ADMIN:
        return caller == "platform_admin"
    if caller == "platform_admin":
        return rule.platform_admin_too
    if caller == "api_key":
        return not rule.user_only and rule.permission in permissions_for_role(API_KEY_ROLE)
    lowest = PERMISSIONS[rule.permission][0]
    return role_rank(caller) >= role_rank(lowest)


def _concrete(path: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("id"):
            return str(uuid.uuid4())
        return {"resource_type": "workflow", "key": "some-key"}.get(name, "x")

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", fill, path)


@pytest.fixture(scope="module")
def callers(client) -> dict[str, Any]:
    tenant = create_tenant(client)
    users = create_users(client, tenant)
    key = create_api_key(client, tenant, API_KEY_ROLE)
    out: dict[str, Any] = {"anonymous": {}, "platform_admin": PLATFORM_ADMIN_HEADERS}
    out.update({role: u.headers for role, u in users.items()})
    out["api_key"] = key.headers
    out["_tenant"] = tenant
    out["_users"] = users
    return out


def _headers(client, callers: dict[str, Any], rule: RouteRule, caller: str) -> dict[str, str]:
    if rule.path == "/v1/auth/logout" and caller in ("viewer", "user", "manager", "admin"):
        # logging out ends the shared session: use a fresh one
        u = callers["_users"][caller]
        return login(client, callers["_tenant"].slug, u.email, u.password)
    headers: dict[str, str] = callers[caller]
    return headers


def _call(client, method: str, path: str, headers: dict[str, str]) -> int:
    if path.endswith("/stream"):
        with client.stream(method, path, headers=headers) as r:
            return int(r.status_code)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return int(client.request(method, path, json=body, headers=headers).status_code)


def test_every_route_answers_each_caller_per_the_matrix(client, callers) -> None:
    rules = route_rules(client.app)
    assert len(rules) > 20
    wrong = []
    for rule in rules:
        path = _concrete(rule.path)
        for caller in CALLERS:
            status = _call(client, rule.method, path, _headers(client, callers, rule, caller))
            allowed = _allowed(rule, caller)
            ok = (
                status == 401
                if allowed is None
                else status == 403
                if allowed is False
                else status not in (401, 403) and status < 500
            )
            if not ok:
                wrong.append(f"{rule.method} {rule.path} as {caller}: {status} (want {allowed})")
    assert not wrong, "\n".join(wrong)


def test_every_tenant_route_declares_a_known_permission(client) -> None:
    for rule in route_rules(client.app):
        assert rule.permission in PERMISSIONS or rule.permission in (
            PUBLIC, PLATFORM_ADMIN, SIGNATURE
        )
        if rule.path.startswith("/v1/") and rule.permission == PUBLIC:
            assert rule.path in PUBLIC_V1, f"{rule.method} {rule.path} has no permission"


PUBLIC_V1 = {
    "/v1/auth/login",
    "/v1/schemas/workflow-definition",
}


def test_docs_permission_matrix_matches_the_code(client) -> None:
    doc = DOC.read_text()
    start = doc.index("<!-- matrix:start -->") + len("<!-- matrix:start -->\n")
    end = doc.index("<!-- matrix:end -->")
    assert doc[start:end] == markdown_table(client.app), (
        "docs/api.md is stale: regenerate with `python -m api.permission_matrix`"
    )
