"""Commands and queries of triggers: schedules and signed webhook endpoints (hooks)."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from domain.kernel import validators as v
from domain.kernel.application import PlatformBase, precondition
from domain.kernel.errors import NotFoundError, ValidationError
from domain.triggers import cron as cron_rules
from domain.triggers.commands import CreateHook, CreateSchedule, UpdateSchedule
from domain.triggers.hook import Hook
from domain.triggers.schedule import CATCHUP, OVERLAP, STATUSES, Schedule
from domain.workflows.workflow import Workflow

MAX_MAPPING_LENGTH = 4096
SECRET_BYTES = 32
_FIELDS = ("cron", "timezone", "input", "overlap", "catchup", "status")


def _schedule_fields(raw: dict[str, Any], c: v.Checks) -> dict[str, Any]:
    """Validate whichever schedule fields ``raw`` holds; normalised values."""
    out: dict[str, Any] = {}
    if "cron" in raw:
        out["cron"] = c.run(cron_rules.expression, raw["cron"], "/cron")
    if "timezone" in raw:
        out["timezone"] = c.run(lambda z, p: cron_rules.zone(z, p).key, raw["timezone"],
                                "/timezone")  # fmt: skip
    if "input" in raw:
        out["input"] = c.run(v.storable, raw["input"], "/input")
    if "overlap" in raw:
        out["overlap"] = c.run(v.one_of(OVERLAP), raw["overlap"], "/overlap")
    if "catchup" in raw:
        out["catchup"] = c.run(v.one_of(CATCHUP), raw["catchup"], "/catchup")
    if "status" in raw:
        out["status"] = c.run(v.one_of(STATUSES), raw["status"], "/status")
    return out


class TriggerCommands(PlatformBase):
    """Schedules (cron, overlap and catch-up policies, pause/resume) and hooks."""

    # -- schedules

    def create_schedule(self, cmd: CreateSchedule) -> Schedule:
        c = v.Checks()
        fields = _schedule_fields(
            {"cron": cmd.cron, "timezone": cmd.timezone, "input": cmd.input,
             "overlap": cmd.overlap, "catchup": cmd.catchup}, c,
        )  # fmt: skip
        c.done()
        self._load_scoped(Workflow, cmd.tenant_id, cmd.workflow_id, "workflow")
        schedule = Schedule(
            tenant_id=cmd.tenant_id,
            workflow_id=cmd.workflow_id,
            created_by=cmd.created_by,
            created_at=self.now(),
            **fields,
        )
        self._save(schedule)
        return schedule

    def get_schedule(self, tenant_id: UUID, schedule_id: UUID) -> Schedule:
        schedule = self._load_scoped(Schedule, tenant_id, schedule_id, "schedule")
        if schedule.deleted:
            raise NotFoundError("schedule", schedule_id)
        return schedule

    def update_schedule(self, cmd: UpdateSchedule) -> Schedule:
        unknown = sorted(set(cmd.changes) - set(_FIELDS))
        if unknown:
            raise ValidationError.one(f"/{unknown[0]}", "is not a field of a schedule")
        c = v.Checks()
        fields = _schedule_fields(cmd.changes, c)
        c.done()
        schedule = self.get_schedule(cmd.tenant_id, cmd.schedule_id)
        self._check_version(schedule, cmd.expected_version, "schedule")
        schedule.update(fields, at=self.now())
        self._save(schedule, precondition=precondition(cmd.expected_version, "schedule"))
        return schedule

    def delete_schedule(
        self, tenant_id: UUID, schedule_id: UUID, *, expected_version: int | None = None
    ) -> None:
        schedule = self.get_schedule(tenant_id, schedule_id)
        self._check_version(schedule, expected_version, "schedule")
        schedule.delete()
        self._save(schedule, precondition=precondition(expected_version, "schedule"))

    # -- hooks

    def create_hook(self, cmd: CreateHook) -> tuple[Hook, str]:
        """A new hook and its secret (the caller shows it once)."""
        mapping = None
        if cmd.mapping is not None:
            mapping = v.text(cmd.mapping, "/mapping", max_len=MAX_MAPPING_LENGTH)
        self._load_scoped(Workflow, cmd.tenant_id, cmd.workflow_id, "workflow")
        secret = "whsec_" + secrets.token_urlsafe(SECRET_BYTES)
        hook = Hook(
            tenant_id=cmd.tenant_id, workflow_id=cmd.workflow_id, secret=secret,
            mapping=mapping, created_by=cmd.created_by, created_at=self.now(),
        )  # fmt: skip
        self._save(hook)
        return hook, secret

    def get_hook(self, tenant_id: UUID, hook_id: UUID) -> Hook:
        hook = self._load_scoped(Hook, tenant_id, hook_id, "hook")
        if hook.deleted:
            raise NotFoundError("hook", hook_id)
        return hook

    def find_hook(self, hook_id: UUID) -> Hook | None:
        """A live hook of any tenant (a delivery names no tenant), or None."""
        try:
            hook = self._load(Hook, hook_id, "hook")
        except NotFoundError:
            return None
        return None if hook.deleted else hook

    def delete_hook(self, tenant_id: UUID, hook_id: UUID) -> None:
        hook = self.get_hook(tenant_id, hook_id)
        hook.delete()
        self._save(hook)
