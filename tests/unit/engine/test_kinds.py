"""The built-in kinds and skill resolution with fakes: an HTTP endpoint behind a mock transport,
the in-memory Platform for notify, a fake SkillCatalog for installations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain.identity.commands import CreateTenant
from domain.platform import Platform
from engine.definition.dsl import BUILTIN_KINDS
from engine.definition.ranges import matches
from engine.steps import Failed, KindContext, StepCall, Succeeded, Waiting, registry
from engine.steps.basic import approval, fail, wait
from engine.steps.http import http, retry_after
from engine.steps.notify import notify
from engine.steps.skills import PlatformSkills, ResolvedSkill, run_skill
from tests.support.doubles import PASSWORD

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def call(uses: str, input: Any = None, *, tenant: str | None = None, timeout_s: float | None = None,
         started_by: str = "u") -> StepCall:  # fmt: skip
    return StepCall(
        run_id=uuid.uuid4(), tenant_id=tenant or str(uuid.uuid4()), workflow_id="w",
        step_id="s", index=None, attempt=1, uses=uses, input=input, timeout_s=timeout_s,
        started_by=started_by, now=NOW,
    )  # fmt: skip


def test_the_registry_implements_exactly_the_built_in_kinds() -> None:
    assert sorted(registry()) == sorted(BUILTIN_KINDS)


# ------------------------------------------------------------------------------- pure kinds


def test_wait_and_approval_read_their_inputs() -> None:
    assert wait(call("wait", {"seconds": 5}), KindContext()) == Waiting(
        "wait", NOW + timedelta(seconds=5)
    )
    naive = wait(call("wait", {"until": "2030-01-02T00:00:00"}), KindContext())
    assert isinstance(naive, Failed)
    assert "time zone" in naive.message
    too_late = wait(call("wait", {"seconds": 60}, timeout_s=10), KindContext())
    assert isinstance(too_late, Failed)
    assert too_late.kind == "timeout"
    assert isinstance(wait(call("wait", {"seconds": "x"}), KindContext()), Failed)
    assert approval(call("approval", {"role": " manager "}, timeout_s=60), KindContext()) == (
        Waiting("approval", NOW + timedelta(seconds=60), "manager")
    )
    assert isinstance(approval(call("approval", {"role": ""}), KindContext()), Failed)
    assert fail(call("fail", {"message": "no"}), KindContext()) == Failed("fail", "no", False)


# ------------------------------------------------------------------------------------- http


def client(answer: Any) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        result: httpx.Response = answer(request)
        return result

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_http_sends_json_with_the_idempotency_key_and_returns_the_answer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": 7})

    c = call("http", {"url": "https://api.test/x", "method": "post", "json": {"a": 1}})
    outcome = http(c, KindContext(http=client(answer)))
    assert isinstance(outcome, Succeeded)
    assert (outcome.output["status"], outcome.output["body"]) == (201, {"id": 7})
    assert seen[0].method == "POST"
    assert seen[0].headers["Idempotency-Key"] == c.idempotency_key


def test_http_maps_statuses_timeouts_and_connection_errors() -> None:
    busy = http(call("http", {"url": "https://api.test", "body": {"b": 1}}),
                KindContext(http=client(lambda r: httpx.Response(
                    503, headers={"Retry-After": "4"}, text="busy"))))  # fmt: skip
    assert busy == Failed("http_status", "GET https://api.test: status 503: busy", True, 4.0)
    wanted = http(call("http", {"url": "https://api.test", "expect_status": [200]}),
                  KindContext(http=client(lambda r: httpx.Response(201, text="x"))))  # fmt: skip
    assert isinstance(wanted, Failed)
    assert not wanted.retryable
    slow = http(call("http", {"url": "https://api.test"}), KindContext(http=client(
        httpx.ReadTimeout("slow"))))  # fmt: skip
    assert isinstance(slow, Failed)
    assert slow.kind == "timeout"
    down = http(call("http", {"url": "https://api.test"}), KindContext(http=client(
        httpx.ConnectError("refused"))))  # fmt: skip
    assert isinstance(down, Failed)
    assert down.kind == "connection"
    bad = http(call("http", {"url": "ftp://x"}), KindContext())
    assert isinstance(bad, Failed)
    assert bad.kind == "invalid_input"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("12") == 12.0
    assert retry_after("Wed, 01 Jan 2030 00:01:00 GMT", "Wed, 01 Jan 2030 00:00:00 GMT") == 60.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_a_tenants_malformed_egress_list_fails_its_http_steps(platform: Platform) -> None:
    from engine.steps.http import client as egress_client

    made = platform.create_tenant(CreateTenant(name="Narrow", slug="narrow", admin_email="a@n.io",
                                               admin_password=PASSWORD))  # fmt: skip
    platform.set_tenant_config(made.tenant.id, "egress.allow", ["not a host!"])
    with egress_client() as shared:
        outcome = http(call("http", {"url": "https://api.test"}, tenant=str(made.tenant.id)),
                       KindContext(platform=platform, http=shared))  # fmt: skip
    assert isinstance(outcome, Failed)
    assert outcome.kind == "invalid_config"


# ----------------------------------------------------------------------------------- notify


def test_notify_queues_a_notification_for_the_run_starter(platform: Platform) -> None:
    made = platform.create_tenant(CreateTenant(name="Acme", slug="acme", admin_email="a@acme.io",
                                               admin_password=PASSWORD))  # fmt: skip
    c = call("notify", {"message": "done", "channel": "slack"}, tenant=str(made.tenant.id),
             started_by=str(made.admin.id))  # fmt: skip
    outcome = notify(c, KindContext(platform=platform))
    assert isinstance(outcome, Succeeded)
    n = platform.get_notification(made.tenant.id, UUID(outcome.output["notification_id"]))
    assert (n.message, n.channel, n.recipient_user_id) == ("done", "slack", made.admin.id)
    nobody = call("notify", {"message": "x", "to_user": "nobody"})
    invalid = notify(nobody, KindContext(platform=platform))
    assert isinstance(invalid, Failed)
    assert invalid.kind == "invalid_input"
    assert isinstance(notify(c, KindContext()), Failed)  # no Platform: unavailable


# ----------------------------------------------------------------------------------- skills


class FakeCatalog:
    def __init__(self, ids: list[UUID]) -> None:
        self.ids = ids
        self.asked: list[tuple[UUID, str]] = []

    def active_installations(self, tenant_id: UUID, name: str) -> list[UUID]:
        self.asked.append((tenant_id, name))
        return self.ids


def fake_platform(version: str, status: str = "active") -> Any:
    definition = {"implementation": {"kind": "python", "entry_point": "echo"},
                  "config_schema": {"properties": {"dsn": {"secret": True}}}}  # fmt: skip
    installation = SimpleNamespace(id=uuid.uuid4(), status=status, uninstalled=False,
                                   skill_version=version, skill_id="s", config={"dsn": "x"},
                                   secret_fields=())  # fmt: skip
    skill = SimpleNamespace(versions=[{"version": version, "definition": definition}],
                            definition={})  # fmt: skip
    return SimpleNamespace(get_installation=lambda t, i: installation, get_skill=lambda s: skill)


def test_platform_skills_find_installations_through_the_catalog_and_match_the_range() -> None:
    tenant = str(uuid.uuid4())
    catalog = FakeCatalog([uuid.uuid4()])
    skills = PlatformSkills(fake_platform("1.4.0"), catalog)
    found = skills.resolve(tenant, "echo", "^1.2")
    assert found is not None
    assert found.version == "1.4.0"
    assert found.secret_fields == ("dsn",)
    assert skills.resolve(tenant, "echo", "^1.2") is found  # cached
    assert catalog.asked == [(UUID(tenant), "echo")]
    assert PlatformSkills(fake_platform("2.0.0"), catalog).resolve(tenant, "echo", "~1.4") is None
    inactive = PlatformSkills(fake_platform("1.0.0", status="disabled"), catalog)
    assert inactive.resolve(tenant, "echo", None) is None


@pytest.mark.parametrize(
    ("version", "wanted", "ok"),
    [("1.4.0", ">=1.0.0,<2.0.0", True), ("2.0.0", ">=1.0.0,<2.0.0", False),
     ("1.2.0", "=1.2.0", True), ("1.2.0", "1.2.0", True), ("1.3.0", "~1.2", False)],
)  # fmt: skip
def test_semver_ranges(version: str, wanted: str, ok: bool) -> None:
    assert matches(version, wanted) is ok


def test_a_stored_range_npm_refuses_matches_nothing_and_says_why() -> None:
    """A definition stored before ranges were npm's may hold one (`!=`): no installation is
    found, and the step fails naming the range's problem instead of stopping the planner."""
    tenant = str(uuid.uuid4())
    skills = PlatformSkills(fake_platform("1.4.0"), FakeCatalog([uuid.uuid4()]))
    assert skills.resolve(tenant, "echo", ">=1.0,!=1.2.0") is None
    failed = run_skill(call("skill:echo@>=1.0,!=1.2.0", tenant=tenant),
                       KindContext(skills=skills))  # fmt: skip
    assert isinstance(failed, Failed)
    assert failed.kind == "skill_not_installed"
    assert "'>=1.0,!=1.2.0' is not a semver range: npm has no '!='" in failed.message


def resolved(implementation: dict[str, Any]) -> Any:
    found = ResolvedSkill("echo", "1.0.0", "i1", {"token": "secret-value"}, implementation)
    return SimpleNamespace(resolve=lambda *_: found)


def test_skills_fail_clearly_when_missing_or_not_runnable() -> None:
    missing = run_skill(call("skill:echo@^1"), KindContext(skills=SimpleNamespace(
        resolve=lambda *_: None)))  # fmt: skip
    assert missing == Failed("skill_not_installed", "no active installation of skill echo@^1",
                             False)  # fmt: skip
    assert isinstance(run_skill(call("skill:echo"), KindContext()), Failed)
    nothing = run_skill(call("skill:echo"), KindContext(skills=resolved({"kind": "other"})))
    assert isinstance(nothing, Failed)
    assert "no runnable implementation" in nothing.message
    gone = run_skill(call("skill:echo"), KindContext(skills=resolved(
        {"kind": "python", "entry_point": "no-such-entry"})))  # fmt: skip
    assert isinstance(gone, Failed)
    assert gone.kind == "skill_not_installed"


def test_an_http_skill_posts_its_input_and_config_and_scrubs_the_answer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"echo": "secret-value"})

    ctx = KindContext(
        http=client(answer), skills=resolved({"kind": "http", "url": "https://skill.test/run"})
    )
    outcome = run_skill(call("skill:echo", {"x": 1}), ctx)
    assert outcome == Succeeded({"echo": "********"})
    assert b'"token":"secret-value"' in seen[0].content.replace(b" ", b"")
