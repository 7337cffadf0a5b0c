"""Property-based contract test: every operation of /openapi.json, as a tenant admin.

No answer may be a 5xx, every answer must match the documented schema, status codes and
content types, and a request the schema calls valid must not be refused as invalid (400/422:
the schemas carry every constraint the code enforces; a stale ``If-Match`` is 412, a state like
409, not bad data; what no schema can say is ``bench.contract.UNEXPRESSED``, shared with the
live run of ``make contract``). Bounded (``max_examples`` per operation) so the whole run stays
short; only the SSE stream is excluded (it never ends). Beside it, a sweep of every documented
path with every method it lacks: 405 with exactly its documented methods in ``Allow``, before any
credential is looked at.
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
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from bench.contract import ACCEPTED, UNEXPRESSED
from tests.factories import TenantCtx, create_tenant, login

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12  # per operation; the suite stays under 10 minutes (longer runs: docs/api.md)


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
    config = SchemathesisConfig.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
    )
    return schemathesis.openapi.from_asgi("/openapi.json", contract_app, config=config)


@pytest.fixture(scope="module")
def admin_tenant(client) -> TenantCtx:
    return create_tenant(client)


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    positive_data_acceptance,
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
        checks = CHECKS
        if f"{operation.method.upper()} {operation.path}" in UNEXPRESSED:
            checks = [c for c in CHECKS if c is not positive_data_acceptance]
        case.call_and_validate(headers=headers_for(case), checks=checks)

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
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        if os.environ.get("PLATINUM_CONTRACT_TRACE"):
            took = time.monotonic() - started
            print(f"{operation.method.upper()} {operation.path} {took:.1f}s", flush=True)
    assert tested > 20
    assert not failures, "\n\n".join(failures)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE = "00000000-0000-0000-0000-00000000abcd"


def test_every_path_answers_a_method_it_lacks_with_405_and_its_allow(client) -> None:
    doc = client.get("/openapi.json").json()
    swept = 0
    for path, item in doc["paths"].items():
        documented = sorted(m.upper() for m in item if m.upper() in METHODS)
        url = re.sub(r"\{[^}]+\}", SAMPLE, path)
        for method in METHODS:
            if method in documented:
                continue
            swept += 1
            # no credential at all: the method is refused before anyone is authenticated
            r = client.request(method, url)
            assert r.status_code == 405, f"{method} {path}: {r.status_code}"
            assert r.headers["allow"] == ", ".join(documented), f"{method} {path}"
    assert swept > 150
