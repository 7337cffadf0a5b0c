"""Skill steps: an installation's secrets never reach a run's stored input or output."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from engine.steps import Failed, KindContext, StepCall, Succeeded
from engine.steps.skills import ResolvedSkill, run_skill

SECRET = "sk-live-0123456789"


class FakeSkillDirectory:
    def __init__(self, skill: ResolvedSkill) -> None:
        self.skill = skill

    def resolve(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill:
        return self.skill


def call(input: Any = None) -> StepCall:
    return StepCall(
        run_id=uuid.uuid4(), tenant_id=str(uuid.uuid4()), workflow_id="w", step_id="s",
        index=None, attempt=1, uses="skill:echo", input=input, timeout_s=None,
        started_by="u", now=datetime.now(UTC),
    )  # fmt: skip


def skill(config: dict[str, Any], secret_fields: tuple[str, ...] = ()) -> ResolvedSkill:
    return ResolvedSkill("echo", "1.0.0", str(uuid.uuid4()), config,
                         {"kind": "python", "entry_point": "echo"}, secret_fields)  # fmt: skip


def test_the_echo_skill_returns_its_config_with_secrets_replaced() -> None:
    resolved = skill({"api_key": SECRET, "dsn": "postgres://u:pw@db", "region": "eu"}, ("dsn",))
    ctx = KindContext(skills=FakeSkillDirectory(resolved))
    outcome = run_skill(call({"note": f"key={SECRET}"}), ctx)
    assert isinstance(outcome, Succeeded)
    assert outcome.output["config"] == {"api_key": "********", "dsn": "********", "region": "eu"}
    assert outcome.output["input"] == {"note": "key=********"}
    assert SECRET not in str(outcome.output)


def test_expressions_see_an_installations_config_with_secrets_redacted() -> None:
    resolved = skill({"api_key": SECRET, "dsn": "postgres://u:pw@db", "region": "eu"}, ("dsn",))
    assert resolved.public_config == {"api_key": "********", "dsn": "********", "region": "eu"}


def test_a_failure_message_carries_no_secret() -> None:
    resolved = ResolvedSkill("echo", "1.0.0", "i", {"token": SECRET},
                             {"kind": "python", "entry_point": f"missing-{SECRET}"})  # fmt: skip
    outcome = run_skill(call(), KindContext(skills=FakeSkillDirectory(resolved)))
    assert isinstance(outcome, Failed)
    assert SECRET not in outcome.message
