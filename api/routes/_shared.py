"""Small helpers shared by the workflow, run, marketplace and messaging routers."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends

from api.auth import CurrentPrincipal, Principal
from api.errors import ProblemError


def platform_projected(container: Any) -> None:
    """Read-your-writes: wait until the read model holds every platform event so far."""
    container.wait_projected(container.platform.recorder.max_notification_id())


def user_of(principal: Principal) -> UUID:
    """The calling user's id; API keys and the platform admin have no inbox or conversations."""
    if principal.user_id is None or principal.tenant_id is None:
        raise ProblemError(403, "This resource belongs to a user: log in as one.")
    return principal.user_id


def tenant_or_platform_admin(principal: CurrentPrincipal) -> Principal:
    """Any authenticated principal: a tenant's (permission checked by the route) or the admin."""
    return principal


AnyPrincipal = Annotated[Principal, Depends(tenant_or_platform_admin)]
