"""Installed skills: ``skill:<name>[@range]`` runs the tenant's active installation of the skill
whose version is in the range (npm's ranges: ``engine.definition.ranges``).

The implementation comes from the skill's definition (at the installed version): ``http``
(POST ``{input, config, context}``, the response JSON is the output) or ``python`` (a callable
registered under the entry-point group ``platinum.skills``: ``fn(input, config, context)``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol
from uuid import UUID

from domain.kernel.secrets import redact, schema_secret_fields, scrub, secret_values
from engine.definition.dsl import parse_uses
from engine.definition.ranges import matches, range_problem
from engine.steps import Failed, KindContext, Outcome, StepCall, Succeeded
from engine.steps.http import request

ENTRY_POINT_GROUP = "platinum.skills"


@dataclass(frozen=True)
class ResolvedSkill:
    name: str
    version: str
    installation_id: str
    config: dict[str, Any]
    implementation: dict[str, Any]
    secret_fields: tuple[str, ...] = ()
    """Config fields the skill's schema marks secret (``domain.kernel.secrets``, rule 3)."""

    @property
    def public_config(self) -> dict[str, Any]:
        """The config as expressions see it (``${{ config.x }}``): secrets redacted, so a
        secret never enters a step's input; only the implementation gets the real value."""
        public: dict[str, Any] = redact(self.config, self.secret_fields)
        return public

    def scrub(self, value: Any) -> Any:
        """``value`` with every secret value of the config replaced (before it is stored)."""
        return scrub(value, secret_values(self.config, self.secret_fields))


class SkillDirectory(Protocol):
    """What skill steps (and expressions' ``config``) resolve an installation through."""

    def resolve(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill | None:
        """The tenant's active installation of skill ``name`` (matching the range), or None."""
        ...


class SkillCatalog(Protocol):
    """The port to the read model: which installations a tenant has of a skill.

    Implemented beside the tables that answer it (``projections.queries.skills``) and handed in
    by the composition root; the installations themselves are then read from their events.
    """

    def active_installations(self, tenant_id: UUID, name: str) -> list[UUID]:
        """Ids of the tenant's installations of skill ``name`` that are active."""
        ...


class PlatformSkills:
    """Finds installations through a `SkillCatalog`, reads them from the Platform's events."""

    def __init__(self, platform: Any, catalog: SkillCatalog, ttl_s: float = 5.0) -> None:
        self.platform = platform
        self.catalog = catalog
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str, str | None], tuple[float, ResolvedSkill | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill | None:
        key = (tenant_id, name, version_range)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        found = self._lookup(tenant_id, name, version_range)
        with self._lock:
            self._cache[key] = (time.monotonic(), found)
        return found

    def _lookup(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill | None:
        if version_range and range_problem(version_range):
            return None  # refused at submit; a definition stored before that may hold one
        for installation_id in self.catalog.active_installations(UUID(tenant_id), name):
            inst = self.platform.get_installation(UUID(tenant_id), installation_id)
            if inst.status != "active" or inst.uninstalled:
                continue
            if not matches(inst.skill_version, version_range):
                continue
            skill = self.platform.get_skill(inst.skill_id)
            definition = next(
                (v["definition"] for v in skill.versions if v["version"] == inst.skill_version),
                skill.definition,
            )
            secret = {*getattr(inst, "secret_fields", ()),
                      *schema_secret_fields(definition.get("config_schema"))}  # fmt: skip
            return ResolvedSkill(name, inst.skill_version, str(inst.id), dict(inst.config),
                                 dict(definition.get("implementation") or {}),
                                 tuple(sorted(secret)))  # fmt: skip
        return None


_callables: dict[str, Callable[..., Any]] = {}


def python_skill(entry: str) -> Callable[..., Any] | None:
    if entry not in _callables:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == entry]
        if not found:
            return None
        _callables[entry] = found[0].load()
    return _callables[entry]


def skill_context(call: StepCall, skill: ResolvedSkill) -> dict[str, Any]:
    return {
        "run_id": str(call.run_id), "tenant_id": call.tenant_id, "step_id": call.step_id,
        "index": call.index, "attempt": call.attempt, "idempotency_key": call.idempotency_key,
        "skill": skill.name, "skill_version": skill.version,
        "installation_id": skill.installation_id,
    }  # fmt: skip


def run_skill(call: StepCall, ctx: KindContext) -> Outcome:
    """Resolve the tenant's installation and run its implementation with its config; the
    outcome (output or error text) has the config's secret values replaced before it is
    stored, so a skill that echoes its config shows no secret in the run."""
    name, _ = parse_uses(call.uses)
    if ctx.skills is None:
        return Failed("unavailable", "skills: this worker has no skill directory", True)
    skill = ctx.skills.resolve(call.tenant_id, *parse_uses(call.uses))
    outcome = _run_skill(call, ctx, skill, name)
    if skill is None:
        return outcome
    if isinstance(outcome, Succeeded):
        return Succeeded(skill.scrub(outcome.output))
    if isinstance(outcome, Failed):
        return Failed(outcome.kind, str(skill.scrub(outcome.message)), outcome.retryable)
    return outcome


def _run_skill(call: StepCall, ctx: KindContext, skill: ResolvedSkill | None, name: str) -> Outcome:
    if skill is None:
        _, version_range = parse_uses(call.uses)
        wanted = name + (f"@{version_range}" if version_range else "")
        problem = range_problem(version_range) if version_range else None
        because = f" ({problem})" if problem else ""
        return Failed("skill_not_installed", f"no active installation of skill {wanted}{because}",
                      False)  # fmt: skip
    impl = skill.implementation
    context = skill_context(call, skill)
    if impl.get("kind") == "http":
        payload = {"input": call.input, "config": skill.config, "context": context}
        outcome = request(ctx, "POST", str(impl.get("url")), call, expect=None, json=payload,
                          headers={"Idempotency-Key": call.idempotency_key})  # fmt: skip
        if isinstance(outcome, Succeeded):
            return Succeeded(outcome.output["body"])
        return outcome
    if impl.get("kind") == "python":
        fn = python_skill(str(impl.get("entry_point")))
        if fn is None:
            return Failed("skill_not_installed",
                          f"no callable {impl.get('entry_point')!r} in {ENTRY_POINT_GROUP}",
                          False)  # fmt: skip
        try:
            return Succeeded(fn(call.input, skill.config, context))
        except Exception as e:
            return Failed("skill_error", f"{type(e).__name__}: {e}", True)
    return Failed("skill_error", f"skill {name} has no runnable implementation", False)
