"""Property-based contract test: every operation of /openapi.json, as a tenant admin.

No answer may be a 5xx, and every answer must match the documented schema, status codes and
content types. Bounded (``max_examples`` per operation) so the whole run stays short; only the
SSE stream is excluded (it never ends).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import TenantCtx, create_tenant, login

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def contract_app(container) -> Any:
    # an app of its own: login failures here must not throttle other tests' logins
    from api.app import create_app
    from api.ratelimit import SharedLoginLimiter

    app = create_app(container)
    app.state.login_limiter = SharedLoginLimiter(
        container.read_pool, per_account=10**6, per_ip=10**6, namespace="schemathesis:"
    )
    return app


@pytest.fixture(scope="module")
def contract_schema(contract_app) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", contract_app)


@pytest.fixture(scope="module")
def admin_tenant(client) -> TenantCtx:
    return create_tenant(client)


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
EXCLUDED = re.compile(r".*/events/stream$")


def _run_operation(operation: Any, headers_for: Any) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers_for(case), checks=CHECKS)

    run()


@pytest.mark.timeout(300)
def test_api_conforms_to_its_openapi(contract_schema, admin_tenant: TenantCtx, client) -> None:
    admin = admin_tenant.admin

    def headers_for(case: Any) -> dict[str, str]:
        if case.operation.path == "/v1/auth/logout":
            # a fuzzed logout would end the shared admin session: give it one of its own
            return login(client, admin_tenant.slug, admin.email, admin.password)
        return admin.headers

    failures = []
    tested = 0
    for result in contract_schema.get_all_operations():
        operation = result.ok()
        if EXCLUDED.match(operation.path):
            continue
        tested += 1
        started = time.monotonic()
        try:
            _run_operation(operation, headers_for)
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        if os.environ.get("PLATINUM_CONTRACT_TRACE"):
            took = time.monotonic() - started
            print(f"{operation.method.upper()} {operation.path} {took:.1f}s", flush=True)
    assert tested > 20
    assert not failures, "\n\n".join(failures)
