"""Small helpers shared by the routers: read-your-writes after a write, the calling user."""

from __future__ import annotations

from uuid import UUID

from api.auth import Principal
from api.composition import Container
from api.errors import ProblemError


def platform_projected(container: Container) -> None:
    """Read-your-writes: wait until the read model holds every platform event so far."""
    container.wait_caught_up()


def user_of(principal: Principal) -> UUID:
    """The calling user's id (routes using it declare ``require_user``: API keys get 403)."""
    if principal.user_id is None or principal.tenant_id is None:
        raise ProblemError(403, "This resource belongs to a user: log in as one.")
    return principal.user_id
