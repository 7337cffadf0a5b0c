"""Signed webhooks: create, list and delete a workflow's hooks; accept a signed delivery.

A delivery (``POST /v1/hooks/{id}``) carries no bearer token: the HMAC-SHA256 signature over
``timestamp + "." + raw body`` under the hook's secret is the credential. An unknown or deleted
hook, a bad signature and a timestamp outside the replay window are the same 401, so a
caller without a secret learns nothing about which hooks exist. Nothing is recorded for a
refused delivery; a delivery id seen before answers 200 with the run it started.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response, status

from api.auth import Principal, require, tenant_of
from api.bodies import invalid
from api.boundary import InputError, invalid_input, parse_json
from api.composition import Container
from api.deps import ContainerDep
from api.errors import ProblemError
from api.pagination import Page, PageDep
from api.permission_matrix import signature_credential
from api.readdb import tenant_tx
from api.routes.workflows import read_workflow
from api.schemas.triggers import HookCreate, HookCreated, HookDelivered, HookPublic
from api.telemetry import traced_start
from domain.kernel.actor import acting_as
from domain.kernel.errors import ConflictError
from domain.runs.application import IdempotencyKeyReusedError, StartRun
from domain.triggers.commands import CreateHook
from domain.triggers.hook import Hook
from engine.definition.errors import DefinitionError
from engine.definition.expressions import Expression, Scope
from projections.queries import hooks as hooks_read

router = APIRouter(tags=["hooks"])

Manager = Annotated[Principal, Depends(require("triggers:manage"))]

REPLAY_WINDOW_S = 300
MAX_DELIVERY_ID = 200
_DUMMY_SECRET = b"platinum-unknown-hook"  # verified against when no hook is found: same work


def _url(request: Request, hook_id: UUID) -> str:
    return str(request.base_url).rstrip("/") + f"/v1/hooks/{hook_id}"


def _public(request: Request, row: dict[str, Any]) -> HookPublic:
    return HookPublic(
        url=_url(request, row["id"]),
        **{k: row[k] for k in ("id", "workflow_id", "mapping", "version", "created_at")},
    )


def _compiled_mapping(mapping: str | None, pointer: str = "/mapping") -> Expression | None:
    if mapping is None:
        return None
    try:
        expression = Expression.compile(mapping)
    except DefinitionError as e:
        raise invalid([(pointer, str(e))]) from None
    extra = sorted(expression.analysis.roots - {"input"})
    if extra:
        raise invalid([(pointer, f"may read only `input` (the payload), not {extra[0]!r}")])
    return expression


# -- management ----------------------------------------------------------------------------


@router.post(
    "/v1/workflows/{workflow_id}/hooks",
    status_code=status.HTTP_201_CREATED,
    response_model=HookCreated,
)
def create_hook(
    workflow_id: UUID,
    body: HookCreate,
    principal: Manager,
    container: ContainerDep,
    request: Request,
    response: Response,
) -> HookCreated:
    """A webhook endpoint for the workflow; the answer holds its secret, shown this once."""
    _compiled_mapping(body.mapping)
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        hook, secret = container.platform.create_hook(
            CreateHook(tenant_id=tenant_id, workflow_id=workflow_id, mapping=body.mapping,
                       created_by=principal.user_id)
        )  # fmt: skip
    container.wait_caught_up()
    response.headers["Location"] = f"/v1/hooks/{hook.id}"
    return HookCreated(
        id=hook.id, workflow_id=hook.workflow_id, url=_url(request, hook.id),
        mapping=hook.mapping, version=hook.version, created_at=hook.created_at, secret=secret,
    )  # fmt: skip


@router.get("/v1/workflows/{workflow_id}/hooks", response_model=Page[HookPublic])
def list_hooks(
    workflow_id: UUID, principal: Manager, container: ContainerDep, page: PageDep,
    request: Request,
) -> Page[HookPublic]:  # fmt: skip
    """The workflow's hooks, oldest first (never their secrets)."""
    tenant_id = tenant_of(principal)
    read_workflow(container, tenant_id, workflow_id)  # 404 for a missing workflow
    with tenant_tx(container.read_pool, tenant_id) as conn:
        rows, next_cursor = hooks_read.list_hooks(conn, page, workflow_id=workflow_id)
    return Page(items=[_public(request, r) for r in rows], next_cursor=next_cursor)


@router.delete("/v1/hooks/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_hook(hook_id: UUID, principal: Manager, container: ContainerDep) -> Response:
    """Delete the hook: its deliveries are refused from now on (401)."""
    tenant_id = tenant_of(principal)
    with acting_as(principal.actor):
        container.platform.delete_hook(tenant_id, hook_id)
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- delivery ------------------------------------------------------------------------------


async def raw_body(request: Request) -> bytes:
    return await request.body()


def _refused() -> ProblemError:
    return ProblemError(401, "The delivery's signature or timestamp is not valid for this hook.")


def verify(hook: Hook | None, timestamp: str | None, signature: str | None, body: bytes) -> Hook:
    """The hook whose secret signed ``timestamp + "." + body`` within the replay window; any
    failure (no such hook included) is the same 401, after the same HMAC work."""
    secret = hook.secret.encode() if hook is not None else _DUMMY_SECRET
    ts = timestamp or ""
    digest = hmac.new(secret, ts.encode("ascii", "replace") + b"." + body, hashlib.sha256)
    given = (signature or "").strip()
    good = hmac.compare_digest(
        ("sha256=" + digest.hexdigest()).encode(), given.encode("utf-8", "replace")
    )
    fresh = (
        ts.isascii()
        and ts.isdigit()
        and len(ts) <= 12
        and abs(time.time() - int(ts)) <= REPLAY_WINDOW_S
    )
    if hook is None or not good or not fresh:
        raise _refused()
    return hook


def _run_input(hook: Hook, body: bytes) -> Any:
    try:  # bounded like every JSON body (depth, integers, NUL), whatever the content type
        payload = parse_json(body) if body.strip() else None
    except InputError as e:
        raise invalid_input(e) from None
    expression = _compiled_mapping(hook.mapping)
    if expression is None:
        return payload
    try:
        return expression.evaluate(Scope(input=payload, steps={}, run={}))
    except DefinitionError as e:
        raise invalid([("", f"the hook's mapping failed on this payload: {e}")]) from None


def _start(container: Container, hook: Hook, delivery: str, run_input: Any) -> tuple[UUID, bool]:
    if not container.platform.get_tenant(hook.tenant_id).is_active:
        raise ConflictError(f"tenant {hook.tenant_id} is not active: it starts no runs")
    workflow = container.platform.get_workflow(hook.tenant_id, hook.workflow_id)
    if workflow.status != "active":
        raise ConflictError(
            f"workflow {workflow.id} is {workflow.status}: only active workflows start runs",
            resource_type="workflow", resource_id=workflow.id,
        )  # fmt: skip
    try:
        started = traced_start(container.telemetry, container.runs.start,
            StartRun(
                tenant_id=hook.tenant_id, workflow_id=hook.workflow_id,
                workflow_version=workflow.current_version, definition=workflow.definition,
                input=run_input, started_by=f"hook:{hook.id}",
                idempotency_key=f"hook:{hook.id}:{delivery}",
                trigger={"kind": "hook", "id": str(hook.id), "delivery": delivery},
            )
        )  # fmt: skip
    except IdempotencyKeyReusedError as e:
        raise ConflictError(
            f"delivery {delivery!r} already started run {e.run_id} with another payload",
            resource_type="run", resource_id=e.run_id,
        ) from None  # fmt: skip
    return started.run.id, started.replayed


@router.post(
    "/v1/hooks/{hook_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=HookDelivered,
    responses={200: {"model": HookDelivered, "description": "A delivery id seen before."}},
    dependencies=[Depends(signature_credential)],
)
def deliver(
    hook_id: UUID,
    container: ContainerDep,
    response: Response,
    body: Annotated[bytes, Depends(raw_body)],
    x_platinum_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_platinum_signature: Annotated[str | None, Header(max_length=200)] = None,
    x_platinum_delivery: Annotated[str | None, Header(max_length=MAX_DELIVERY_ID)] = None,
) -> HookDelivered:
    """Start a run from a signed delivery (no bearer token: the signature is the credential)."""
    hook = verify(
        container.platform.find_hook(hook_id), x_platinum_timestamp, x_platinum_signature, body
    )
    delivery = (x_platinum_delivery or "").strip()
    if not delivery or not delivery.isprintable():
        raise invalid([("#header/x-platinum-delivery", "is required: the sender's delivery id")])
    run_id, replayed = _start(container, hook, delivery, _run_input(hook, body))
    container.wait_caught_up("runs")
    response.headers["Location"] = f"/v1/runs/{run_id}"
    if replayed:
        response.status_code = status.HTTP_200_OK
    return HookDelivered(run_id=run_id)
