"""API keys: service credentials with a built-in role; the secret is shown once."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import Principal, require
from api.composition import Container
from api.deps import ContainerDep
from api.etag import set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.identity import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from domain.identity.commands import CreateApiKey
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError
from projections.queries import api_keys

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])

KeysAdmin = Annotated[Principal, Depends(require("api_keys:admin"))]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "role": str(row["role"])}


def read_api_key(container: Container, tenant_id: UUID, key_id: UUID) -> dict[str, Any]:
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = api_keys.api_key(conn, key_id)
    if row is None:
        raise NotFoundError("api_key", key_id)
    return _public(row)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_api_key(
    body: ApiKeyCreate, principal: KeysAdmin, container: ContainerDep, response: Response
) -> ApiKeyCreated:
    """Create an API key; the response is the only time its secret is shown."""
    assert principal.tenant_id is not None
    creator = principal.user_id
    if principal.api_key_id is not None:  # a key made by a key answers to the same user
        own = container.platform.get_api_key(principal.tenant_id, principal.api_key_id)
        creator = own.created_by
    with acting_as(principal.actor):
        issued = container.platform.create_api_key(
            CreateApiKey(
                tenant_id=principal.tenant_id,
                name=body.name,
                role=body.role,
                created_by=creator,
            )
        )
    container.wait_caught_up()
    row = read_api_key(container, principal.tenant_id, issued.api_key.id)
    response.headers["Location"] = f"/v1/api-keys/{issued.api_key.id}"
    response.headers["Cache-Control"] = "no-store"
    set_etag(response, row["version"])
    return ApiKeyCreated(**row, secret=issued.secret)


@router.get("", response_model=Page[ApiKeyPublic])
def list_api_keys(
    principal: KeysAdmin,
    container: ContainerDep,
    page: PageDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
) -> Page[ApiKeyPublic]:
    """List the tenant's API keys (never their secrets)."""
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = api_keys.list_api_keys(conn, page, include_revoked=include_revoked)
    return Page[ApiKeyPublic](
        items=[ApiKeyPublic(**_public(r)) for r in rows], next_cursor=next_cursor
    )


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_api_key(key_id: UUID, principal: KeysAdmin, container: ContainerDep) -> Response:
    """Revoke an API key; it stops working at once."""
    assert principal.tenant_id is not None
    with acting_as(principal.actor):
        container.platform.revoke_api_key(principal.tenant_id, key_id)
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
