"""The endpoints around runs as data: triggers, audit, identity (``calls.py`` has the rest)."""

from __future__ import annotations

from typing import Any

from api.client.calls import Call, Id, Lister, body, delete, get, lister, matching, model, post
from api.schemas.audit import (
    AuditEventPublic,
    CheckpointPublic,
    CheckpointsPublic,
    HistoryPublic,
    PublicKeysPublic,
    StatePublic,
    VerifyPublic,
)
from api.schemas.identity import (
    ApiKeyCreated,
    ApiKeyPublic,
    LoginResponse,
    MePublic,
    TenantCreated,
    TenantPublic,
)
from api.schemas.triggers import HookCreated, HookPublic, SchedulePublic

# ---- schedules and hooks


def schedule_create(workflow_id: Id, cron: str, **fields: Any) -> Call[SchedulePublic]:
    """``fields``: ``timezone``, ``input``, ``overlap``, ``catchup`` (the API's defaults)."""
    path = f"/v1/workflows/{workflow_id}/schedules"
    return post(path, SchedulePublic, body(cron=cron, **fields))


def schedules(workflow_id: Id, limit: int | None = None) -> Lister[SchedulePublic]:
    return lister(f"/v1/workflows/{workflow_id}/schedules", SchedulePublic, limit)


def schedule(schedule_id: Id) -> Call[SchedulePublic]:
    return get(f"/v1/schedules/{schedule_id}", SchedulePublic)


def schedule_update(
    schedule_id: Id, if_match: int | None = None, **fields: Any
) -> Call[SchedulePublic]:
    """Only the fields given change (``status``: ``paused`` or ``active``)."""
    return Call("PATCH", f"/v1/schedules/{schedule_id}", model(SchedulePublic),
                json=fields, headers=matching(if_match))  # fmt: skip


def schedule_delete(schedule_id: Id) -> Call[None]:
    return delete(f"/v1/schedules/{schedule_id}")


def hook_create(workflow_id: Id, mapping: str | None = None) -> Call[HookCreated]:
    return post(f"/v1/workflows/{workflow_id}/hooks", HookCreated, body(mapping=mapping))


def hooks(workflow_id: Id, limit: int | None = None) -> Lister[HookPublic]:
    return lister(f"/v1/workflows/{workflow_id}/hooks", HookPublic, limit)


def hook_delete(hook_id: Id) -> Call[None]:
    return delete(f"/v1/hooks/{hook_id}")


# ---- audit


def audit_events(limit: int | None = None, **filters: Any) -> Lister[AuditEventPublic]:
    """``filters``: ``since``, ``until``, ``user_id``, ``action``, ``resource_type``,
    ``resource_id`` (the API's query parameters)."""
    return lister("/v1/audit/events", AuditEventPublic, limit, **filters)


def audit_verify() -> Call[VerifyPublic]:
    return get("/v1/audit/verify", VerifyPublic)


def audit_checkpoints(
    from_size: int | None = None, to_size: int | None = None
) -> Call[CheckpointsPublic]:
    return get("/v1/audit/checkpoints", CheckpointsPublic, from_size=from_size, to_size=to_size)


def audit_checkpoint() -> Call[CheckpointPublic]:
    return post("/v1/audit/checkpoints", CheckpointPublic)


def audit_public_keys() -> Call[PublicKeysPublic]:
    return get("/v1/audit/public-keys", PublicKeysPublic)


def history(resource_type: str, resource_id: Id) -> Call[HistoryPublic]:
    return get(f"/v1/history/{resource_type}/{resource_id}", HistoryPublic)


def state_as_of(resource_type: str, resource_id: Id, as_of: int | str) -> Call[StatePublic]:
    """The aggregate's state at a version (int) or an RFC 3339 time."""
    return get(f"/v1/history/{resource_type}/{resource_id}", StatePublic, as_of=as_of)


# ---- identity


def login(tenant: str, email: str, password: str) -> Call[LoginResponse]:
    return post("/v1/auth/login", LoginResponse,
                {"tenant": tenant, "email": email, "password": password})  # fmt: skip


def logout() -> Call[None]:
    return Call("POST", "/v1/auth/logout", lambda _: None)


def me() -> Call[MePublic]:
    return get("/v1/me", MePublic)


def api_key_create(name: str, role: str = "user") -> Call[ApiKeyCreated]:
    return post("/v1/api-keys", ApiKeyCreated, {"name": name, "role": role})


def api_keys(limit: int | None = None) -> Lister[ApiKeyPublic]:
    return lister("/v1/api-keys", ApiKeyPublic, limit)


def api_key_delete(key_id: Id) -> Call[None]:
    return delete(f"/v1/api-keys/{key_id}")


def tenant_create(name: str, slug: str, admin_email: str, admin_password: str,
                  **fields: Any) -> Call[TenantCreated]:  # fmt: skip
    """As the platform admin; ``fields``: ``admin_name``, ``config``, ``billing_info``."""
    return post("/v1/tenants", TenantCreated, body(name=name, slug=slug, admin_email=admin_email,
                                                   admin_password=admin_password, **fields))


def tenant(tenant_id: Id) -> Call[TenantPublic]:
    return get(f"/v1/tenants/{tenant_id}", TenantPublic)


