"""Egress of ``http`` steps end to end on PostgreSQL: loopback refused unless allowed, a refused
or closed port looks like a blocked one, a tenant's list narrows, 408/429 honour Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from domain.identity.commands import CreateTenant
from domain.runs.application import StartRun
from domain.runs.run import Run
from domain.workflows.commands import CreateWorkflow
from tests.conftest import create_database, drop_database, make_settings
from tests.integration.engine.conftest import Engine, build_engine, close_engine, run_when
from tests.integration.engine.support import LocalServer
from tests.support.doubles import PASSWORD
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(90)

ONE_TRY = {"max_attempts": 1}


@pytest.fixture(scope="module")
def strict_engine(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a database of its own whose settings allow nothing beyond public addresses
    (a second worker on the session database would compete for its tasks)."""
    from api.composition import application_classes
    from api.database_setup import upgrade

    info = create_database(pg_server, "platinum_egress")
    settings = make_settings(info, tmp_path_factory.mktemp("strict")).model_copy(
        update={"egress_allow": ""}
    )
    assert settings.egress_policy().allow.describe() == "(none)"
    db = upgrade(settings, application_classes())
    e = build_engine(settings, db)
    try:
        yield e
    finally:
        close_engine(e)
        drop_database(pg_server, info)


def start(engine: Engine, steps: list[dict[str, Any]], tenant_id: uuid.UUID | None = None) -> Run:
    tenant = tenant_id or engine.tenant_id
    definition = {"name": f"egress-{uuid.uuid4().hex[:6]}", "steps": steps}
    workflow = engine.platform.create_workflow(CreateWorkflow(
        tenant_id=tenant, name=definition["name"], definition=definition,
        created_by=engine.admin_id))  # fmt: skip
    return engine.runs.start_run(  # type: ignore[no-any-return]
        StartRun(tenant_id=tenant, workflow_id=workflow.id, workflow_version=1,
                 definition=definition, input={}, started_by=engine.admin_id)
    )  # fmt: skip


def call(url: str, sid: str = "call") -> dict[str, Any]:
    return {"id": sid, "uses": "http", "with": {"url": url}, "retry": ONE_TRY}


def errors(run: Run) -> dict[str, tuple[str, str]]:
    """Each step's error (kind, message with its URL taken out)."""
    out = {}
    for sid, slot in run.steps.items():
        url = run.steps[sid]["input"]["url"] if slot.get("input") else ""
        message = slot["error"]["message"].replace(url, "<url>")
        out[sid] = (slot["error"]["kind"], message)
    return out


def test_http_steps_to_loopback_are_refused_without_the_allow_setting(
    strict_engine: Engine, http_server: LocalServer
) -> None:
    port = int(http_server.url("").rsplit(":", 1)[1])
    before = len(http_server.recorder.requests)
    run = start(strict_engine, [
        call(f"http://127.0.0.1:{port}/metrics", "open"),
        call(f"http://127.0.0.1:{free_port()}/", "closed"),
        call(f"http://localhost:{port}/", "name"),
        call(f"http://2130706433:{port}/", "decimal"),
        call(f"http://0x7f.1:{port}/", "hex"),
        call(f"http://0177.0.0.1:{port}/", "octal"),
        call(f"http://[::ffff:127.0.0.1]:{port}/", "mapped"),
        call(f"http://[::1]:{port}/", "v6"),
        call("http://169.254.169.254/latest/meta-data/", "metadata"),
    ])  # fmt: skip
    run = run_when(strict_engine, run.id, timeout=30)
    assert run.status == "failed"
    assert len(http_server.recorder.requests) == before  # nothing reached the server
    seen = errors(run)
    assert set(seen.values()) == {("connection", "GET <url>: could not connect to the endpoint")}
    assert seen["open"] == seen["closed"]  # an open and a closed port read the same


def test_a_refused_port_reads_like_a_blocked_one_where_loopback_is_allowed(
    engine: Engine, strict_engine: Engine, http_server: LocalServer
) -> None:
    closed = free_port()
    allowed = run_when(engine, start(engine, [call(f"http://127.0.0.1:{closed}/")]).id, timeout=30)
    blocked = run_when(
        strict_engine, start(strict_engine, [call(f"http://127.0.0.1:{closed}/")]).id, timeout=30
    )
    assert errors(allowed) == errors(blocked)
    retryable = {r.steps["call"]["error"]["retryable"] for r in (allowed, blocked)}
    assert len(retryable) == 1
    # and the allowed engine does reach an open loopback port
    ok = run_when(engine, start(engine, [call(http_server.url("/reached"))]).id, timeout=30)
    assert ok.status == "succeeded", ok.reason


def _tenant(engine: Engine, allow: Any) -> uuid.UUID:
    made = engine.platform.create_tenant(CreateTenant(
        name="Narrow", slug=f"narrow-{uuid.uuid4().hex[:8]}",
        admin_email="ada@narrow-example.com", admin_password=PASSWORD))  # fmt: skip
    if allow is not None:
        engine.platform.set_tenant_config(made.tenant.id, "egress.allow", allow)
    return made.tenant.id  # type: ignore[no-any-return]


def test_a_tenant_allow_list_narrows_the_platform_list(
    engine: Engine, strict_engine: Engine, http_server: LocalServer
) -> None:
    url = http_server.url("/narrow")
    # the platform (test settings) allows loopback; this tenant allows only one public name
    narrow = _tenant(engine, ["api.example.com"])
    run = run_when(engine, start(engine, [call(url)], narrow).id, tenant_id=narrow, timeout=30)
    assert run.status == "failed"
    assert errors(run)["call"] == ("connection", "GET <url>: could not connect to the endpoint")
    # a tenant whose list names loopback reaches it, as does one with no list
    for allow in (["127.0.0.1/32", "api.example.com"], "127.0.0.0/8", None):
        tenant = _tenant(engine, allow)
        run = run_when(engine, start(engine, [call(url)], tenant).id, tenant_id=tenant, timeout=30)
        assert run.status == "succeeded", (allow, run.reason)
    # a tenant list never widens: loopback stays refused where the platform refuses it
    wide = _tenant(strict_engine, ["127.0.0.0/8", "localhost"])
    run = run_when(
        strict_engine, start(strict_engine, [call(url)], wide).id, tenant_id=wide, timeout=30
    )
    assert run.status == "failed"
    assert errors(run)["call"][0] == "connection"


def test_a_malformed_tenant_allow_list_fails_the_step_closed(
    engine: Engine, http_server: LocalServer
) -> None:
    tenant = _tenant(engine, ["not a host!"])
    run = run_when(
        engine,
        start(engine, [call(http_server.url("/x"))], tenant).id,
        tenant_id=tenant,
        timeout=30,
    )
    assert run.status == "failed"
    assert run.steps["call"]["error"]["kind"] == "invalid_config"


# ---------------------------------------------------------------------------- Retry-After


def retrying(url: str, max_interval_s: float = 30) -> list[dict[str, Any]]:
    retry = {"max_attempts": 3, "initial_interval_s": 0.05, "max_interval_s": max_interval_s,
             "jitter": False}  # fmt: skip
    return [{"id": "call", "uses": "http", "with": {"url": url}, "retry": retry}]


def gap(server: LocalServer, path: str) -> float:
    times = [t for _, p, _, t in server.recorder.requests if p == path]
    assert len(times) == 2, times
    return times[1] - times[0]


@pytest.mark.parametrize(
    ("status", "query", "at_least"),
    [(429, "after=2", 1.95), (408, "after=2", 1.95), (429, "after_date=3", 1.95),
     (503, "after=2", 1.95)],
)  # fmt: skip
def test_408_and_429_are_retried_no_sooner_than_retry_after(
    engine: Engine, http_server: LocalServer, status: int, query: str, at_least: float
) -> None:
    path = f"/limited/{uuid.uuid4().hex[:8]}"
    run = start(engine, retrying(http_server.url(f"{path}?status={status}&{query}")))
    run = run_when(engine, run.id, timeout=30)
    assert run.status == "succeeded", run.reason
    assert run.steps["call"]["attempt"] == 2
    assert gap(http_server, path) >= at_least  # the backoff alone would be 0.05 s


def test_retry_after_is_capped_by_max_interval(engine: Engine, http_server: LocalServer) -> None:
    path = f"/limited/{uuid.uuid4().hex[:8]}"
    url = http_server.url(f"{path}?status=429&after=3600")
    run = run_when(engine, start(engine, retrying(url, max_interval_s=1.0)).id, timeout=30)
    assert run.status == "succeeded", run.reason  # an hour was asked for; the cap is 1 s
    assert gap(http_server, path) >= 0.95
    failed = [e for e in engine.runs.events.get(run.id) if type(e).__name__ == "StepFailed"]
    assert [e.retry_after_s for e in failed] == [3600.0]  # recorded as asked, waited as capped
