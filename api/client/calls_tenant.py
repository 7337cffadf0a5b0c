"""The endpoints around runs as data: triggers, audit, identity (``calls.py`` has the rest)."""

from __future__ import annotations

import json
from typing import Any

from api.client.calls import (
    Call,
    Id,
    Lister,
    body,
    delete,
    get,
    get_json,
    lister,
    model,
    nothing,
    path,
    post,
    write,
)
from api.client.signing import sign_delivery
from api.schemas.audit import (
    AuditEventPublic,
    CheckpointPublic,
    CheckpointsPublic,
    ConsistencyProofPublic,
    HistoryPublic,
    InclusionProofPublic,
    PublicKeyPublic,
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
from api.schemas.triggers import HookCreated, HookDelivered, HookPublic, SchedulePublic

# ---- schedules and hooks


def schedule_create(workflow_id: Id, cron: str, **fields: Any) -> Call[SchedulePublic]:
    """``fields``: ``timezone``, ``input``, ``overlap``, ``catchup`` (the API's defaults)."""
    at = path("/v1/workflows/{workflow_id}/schedules", workflow_id=workflow_id)
    return post(at, SchedulePublic, body(cron=cron, **fields))


def schedules(workflow_id: Id, limit: int | None = None) -> Lister[SchedulePublic]:
    at = path("/v1/workflows/{workflow_id}/schedules", workflow_id=workflow_id)
    return lister(at, SchedulePublic, limit)


def schedule(schedule_id: Id) -> Call[SchedulePublic]:
    return get(path("/v1/schedules/{schedule_id}", schedule_id=schedule_id), SchedulePublic)


def schedule_update(
    schedule_id: Id, if_match: int | None = None, **fields: Any
) -> Call[SchedulePublic]:
    """Only the fields given change (``status``: ``paused`` or ``active``)."""
    at = path("/v1/schedules/{schedule_id}", schedule_id=schedule_id)
    return write("PATCH", at, SchedulePublic, fields, if_match)


def schedule_pause(schedule_id: Id) -> Call[SchedulePublic]:
    return schedule_update(schedule_id, status="paused")


def schedule_resume(schedule_id: Id) -> Call[SchedulePublic]:
    return schedule_update(schedule_id, status="active")


def schedule_delete(schedule_id: Id) -> Call[None]:
    return delete(path("/v1/schedules/{schedule_id}", schedule_id=schedule_id))


def hook_create(workflow_id: Id, mapping: str | None = None) -> Call[HookCreated]:
    """The answer carries the hook's ``secret``: shown this once."""
    at = path("/v1/workflows/{workflow_id}/hooks", workflow_id=workflow_id)
    return post(at, HookCreated, body(mapping=mapping))


def hooks(workflow_id: Id, limit: int | None = None) -> Lister[HookPublic]:
    at = path("/v1/workflows/{workflow_id}/hooks", workflow_id=workflow_id)
    return lister(at, HookPublic, limit)


def hook_delete(hook_id: Id) -> Call[None]:
    return delete(path("/v1/hooks/{hook_id}", hook_id=hook_id))


def hook_deliver(
    hook_id: Id, secret: str, payload: Any = None, delivery_id: str | None = None
) -> Call[HookDelivered]:
    """A delivery signed with the hook's ``secret`` (as a sender does, no bearer needed);
    its ``delivery_id`` (fresh unless given) makes a resend start no second run."""
    raw = b"" if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **sign_delivery(secret, raw, delivery_id)}
    return Call("POST", path("/v1/hooks/{hook_id}", hook_id=hook_id), model(HookDelivered),
                content=raw, headers=headers, replayable=True)  # fmt: skip


# ---- audit


def audit_events(limit: int | None = None, **filters: Any) -> Lister[AuditEventPublic]:
    """``filters``: ``since``, ``until``, ``user_id``, ``action``, ``resource_type``,
    ``resource_id`` (the API's query parameters)."""
    return lister("/v1/audit/events", AuditEventPublic, limit, **filters)


def audit_verify() -> Call[VerifyPublic]:
    return get("/v1/audit/verify", VerifyPublic)


def audit_export() -> Call[None]:
    """The NDJSON export (read line by line by the clients' ``export``, not ``send``)."""
    return Call("GET", "/v1/audit/export", nothing, replayable=True)


def audit_checkpoints(
    from_size: int | None = None, to_size: int | None = None
) -> Call[list[CheckpointPublic]]:
    at = "/v1/audit/checkpoints"
    found = get(at, CheckpointsPublic, from_size=from_size, to_size=to_size)
    return found.then(lambda c: c.checkpoints)


def audit_checkpoint() -> Call[CheckpointPublic]:
    """Sign the tenant's audit tree now."""
    return post("/v1/audit/checkpoints", CheckpointPublic)


def audit_public_keys() -> Call[list[PublicKeyPublic]]:
    return get("/v1/audit/public-keys", PublicKeysPublic).then(lambda k: k.keys)


def audit_inclusion_proof(
    event_id: Id, tree_size: int | None = None
) -> Call[InclusionProofPublic]:
    """The audit path (RFC 9162) of an audit row in the tree of ``tree_size`` rows (now)."""
    return get("/v1/audit/proofs/inclusion", InclusionProofPublic, event_id=event_id,
               tree_size=tree_size)  # fmt: skip


def audit_consistency_proof(from_size: int, to_size: int) -> Call[ConsistencyProofPublic]:
    """The proof (RFC 9162) that the tree of ``from_size`` rows is a prefix of ``to_size``'s."""
    return get("/v1/audit/proofs/consistency", ConsistencyProofPublic, from_size=from_size,
               to_size=to_size)  # fmt: skip


def history(resource_type: str, resource_id: Id) -> Call[HistoryPublic]:
    at = path("/v1/history/{resource_type}/{resource_id}", resource_type=resource_type,
              resource_id=resource_id)  # fmt: skip
    return get(at, HistoryPublic)


def state_as_of(resource_type: str, resource_id: Id, as_of: int | str) -> Call[StatePublic]:
    """The aggregate's state at a version (int) or an RFC 3339 time."""
    at = path("/v1/history/{resource_type}/{resource_id}", resource_type=resource_type,
              resource_id=resource_id)  # fmt: skip
    return get(at, StatePublic, as_of=as_of)


# ---- identity and operations


def login(tenant: str, email: str, password: str) -> Call[LoginResponse]:
    return post("/v1/auth/login", LoginResponse,
                {"tenant": tenant, "email": email, "password": password})  # fmt: skip


def logout() -> Call[None]:
    return Call("POST", "/v1/auth/logout", nothing)


def me() -> Call[MePublic]:
    """The caller: its tenant, role, effective permissions and profile."""
    return get("/v1/me", MePublic)


def health() -> Call[dict[str, Any]]:
    """Liveness (``GET /healthz``): the process answers."""
    return get_json("/healthz")


def ready() -> Call[dict[str, Any]]:
    """Readiness (``GET /readyz``): database, projection lag, stuck and parked events; a
    service that is not ready raises ``ServerError`` (503)."""
    return get_json("/readyz")


def api_key_create(name: str, role: str = "user") -> Call[ApiKeyCreated]:
    """The answer carries the key's ``secret``: shown this once."""
    return post("/v1/api-keys", ApiKeyCreated, {"name": name, "role": role})


def api_keys(limit: int | None = None) -> Lister[ApiKeyPublic]:
    return lister("/v1/api-keys", ApiKeyPublic, limit)


def api_key_delete(key_id: Id) -> Call[None]:
    return delete(path("/v1/api-keys/{key_id}", key_id=key_id))


def tenant_create(name: str, slug: str, admin_email: str, admin_password: str,
                  **fields: Any) -> Call[TenantCreated]:  # fmt: skip
    """As the platform admin; ``fields``: ``admin_name``, ``config``, ``billing_info``."""
    return post("/v1/tenants", TenantCreated, body(name=name, slug=slug, admin_email=admin_email,
                                                   admin_password=admin_password, **fields))


def tenant(tenant_id: Id) -> Call[TenantPublic]:
    return get(path("/v1/tenants/{tenant_id}", tenant_id=tenant_id), TenantPublic)


def tenant_update(tenant_id: Id, if_match: int | None = None, **fields: Any) -> Call[TenantPublic]:
    """As the platform admin; ``fields``: ``name``, ``config``, ``billing_info``, ``status``
    (``cancelled`` erases the tenant's users)."""
    at = path("/v1/tenants/{tenant_id}", tenant_id=tenant_id)
    return write("PATCH", at, TenantPublic, fields, if_match)
